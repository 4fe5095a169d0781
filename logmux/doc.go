// Package logmux merges the output streams of many workers into one writer,
// one whole line at a time, as text ("web.1  | line", colored prefixes) or
// JSON (one object per line).
//
// # Model
//
// Each stream of each worker gets its own Writer. A Writer splits what it is
// given into lines, formats them (prefix, or JSON) into its own buffer, and
// writes the buffer to the output in one call while holding the Mux's output
// lock: that lock is the only thing writers share, and it is what keeps every
// line whole. A partial line (no newline yet) waits in the Writer until its
// newline comes, until it has waited FlushAfter (100 ms: then it is printed
// as a line), or until Close.
//
// # Invariants
//
//   - No line is split or interleaved with another's; a line longer than
//     MaxLine (64 KiB) is printed as several prefixed pieces, none dropped.
//   - Nothing is dropped while the output accepts writes: a slow output blocks
//     Write (back-pressure reaches the worker through its pipe) and memory per
//     Writer stays bounded by MaxLine plus one formatted batch. After the
//     output fails (a closed stdout), lines are discarded so workers never
//     block forever.
//   - The bytes of a line pass through untouched in text mode (ANSI colors,
//     invalid UTF-8); in JSON mode invalid UTF-8 becomes U+FFFD, as
//     encoding/json does, so every line stays valid JSON.
//   - Colors are per fatih/color instance, never its global NoColor.
package logmux
