//go:build !linux && !darwin

package procfile

// ArgMax is the most room (see ArgSize) a worker's argv and environment may
// take: 256 KiB, the ARG_MAX of FreeBSD on 32-bit platforms and the smallest
// of the BSDs' (64-bit FreeBSD allows 512 KiB), less a 16 KiB reserve for the
// program's path and the variables the runner adds (CLUSTER_*, PORT, ...).
const ArgMax = 256<<10 - 16<<10
