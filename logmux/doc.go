// Package logmux merges the output streams of many workers into one writer,
// one whole line at a time, as text ("web.1  | line", colored prefixes) or
// JSON (one object per line).
//
// # Model
//
// Each stream of each worker gets its own Writer. A Writer splits what it is
// given into lines, formats them (prefix, or JSON) into a buffer, and
// writes the buffer to the output in one call while holding the Mux's output
// lock: that lock is the only thing writers share, and it is what keeps every
// line whole. A partial line (no newline yet) waits in the Writer until its
// newline comes, until it has waited FlushAfter (100 ms: then it is printed
// as a line), or until Close. A line longer than MaxLine is printed in
// pieces of MaxLine bytes; the CR of its CRLF is trimmed before it is cut,
// so a line of MaxLine bytes and "\r\n" is one piece, not that and an empty
// one (a piece is not printed while only a '\r' has come after it).
//
// The lines of one Write arrived together and share one time (JSON's "time",
// text's timestamp): the clock is read once per Write, and formatted again
// only when it has moved to another millisecond. The buffer a Write formats
// into comes from a pool and goes back to it, and a partial line's buffer is
// let go once the line is out when it grew past 4 KiB: a Writer whose worker
// is idle holds no large buffer, and memory taken by a burst of output from
// many workers returns after it. Formatting a line allocates nothing.
//
// In JSON a line that needs no escaping (printable ASCII but '"' and '\\',
// the common case) is found by the same eight-bytes-at-a-time scan that finds
// its end, and copied as it is; any other line goes through the escaper.
//
// # When the output fails
//
// A failed write (a full disk, a closed stdout) costs the lines of that write
// and nothing else: they are counted, with the last error, and the Writer
// returns as if they had been written, so a worker's pipe keeps draining and
// no worker ever blocks on a dead output. Nothing is retried later and
// nothing is buffered, but the output is not given up on: the next line tries
// again, at the price of one failed write call per line while it stays dead.
// When a write succeeds again, the Mux first prints one runner line,
//
//	cluster | 1234 lines lost: write /dev/stdout: no space left on device
//
// in JSON the event {"process":"cluster","event":"lost","lines":1234,
// "error":"...","message":"1234 lines lost: ..."}. A line cut by a short
// write counts as lost, and the report starts on a fresh line. Lost returns
// what is lost and not yet reported.
//
// Options.Errors (the runner's stderr) hears once per failure streak, at its
// first failure: "cluster: output failed (ERR): discarding log lines until it
// works again". Close tries the report once more; if the output still fails
// it writes "cluster: N lines lost: ERR" to Errors and returns a *LostError
// (wrapping the write error), and keeps returning it on later calls. Close
// may be called any number of times: each reports only what is new. Writes
// to Errors happen outside the output lock.
//
// # Terminal output
//
// With Options.Terminal (the caller has found the output is a terminal, as
// for Color) text mode neutralises control sequences in each line's payload,
// so a worker cannot clear the screen, move the cursor, set the title or the
// clipboard (OSC 52), or overwrite its prefix with a bare CR to forge a
// "cluster |" line. The rule, one byte or rune at a time:
//
//   - SGR (ESC [ digits ; : m, colors and styles) is kept as is;
//   - every other ESC becomes the two characters "^[", and what follows it is
//     printed as text: ESC[2J is "^[[2J", an OSC title ESC]0;t BEL is
//     "^[]0;t^G";
//   - other C0 controls and DEL become caret notation: CR "^M", BEL "^G",
//     BS "^H", NUL "^@", DEL "^?"; TAB is kept;
//   - C1 controls U+0080-U+009F, as raw bytes or UTF-8, become "^[" and their
//     7-bit form: 0x9B (CSI) is "^[[", 0x9D (OSC) "^[]";
//   - everything else, invalid UTF-8 included, is kept;
//   - a line whose last SGR set a color or style (not a reset) ends with
//     ESC[0m, so that it never reaches the next line, another worker's or
//     the runner's (a concealed or colored "cluster |" line).
//
// A line is checked alone (an SGR cut by MaxLine is neutralised). The CR of a
// CRLF is trimmed before, as in every mode. A line with nothing to neutralise
// costs one scan and is copied as is. Without Terminal (a file, a pipe) the
// bytes pass through untouched, for grep; JSON escapes every control anyway.
// With Color but not Terminal (--color always into less -R, a CI log) every
// text line starts with ESC[0m, so that an SGR a worker leaves on stops at
// its line there too; it is part of the cached prefix (or timestamp), so no
// line is scanned for it, and without Color the bytes are the worker's.
//
// # Options
//
// Color colors the prefixes; Terminal neutralises controls (text mode);
// JSON prints one object per line; Timestamps prefixes text lines with the
// time; FlushAfter is how long a partial line waits; MaxLine cuts longer
// lines into pieces; Now is the clock; Errors receives failure notices.
//
// # Invariants
//
//   - No line is split or interleaved with another's; a line longer than
//     MaxLine (64 KiB) is printed as several prefixed pieces, none dropped.
//   - Nothing is dropped while the output accepts writes: a slow output blocks
//     Write (back-pressure reaches the worker through its pipe) and memory per
//     Writer stays bounded by MaxLine plus one formatted batch (128 KiB and
//     a line), which an idle Writer does not hold.
//   - Nothing is dropped silently: every line that fails to reach the output
//     is counted and reported, to the output when it works again, or to
//     Errors by Close.
//   - In JSON mode strings are escaped as encoding/json does (without its
//     HTML escaping; \b and \f as \u0008 and \u000c) and invalid UTF-8
//     becomes U+FFFD, so every line stays valid JSON.
//   - Colors are per fatih/color instance, never its global NoColor.
package logmux
