package procfile

import "syscall"

// platformSignals are the signal names only this platform has.
var platformSignals = map[string]syscall.Signal{"PWR": syscall.SIGPWR}
