package procfile

// ArgMax is the most room (see ArgSize) a worker's argv and environment may
// take: macOS's ARG_MAX (kern.argmax, 1 MiB) less a 64 KiB reserve for the
// program's path and the variables the runner adds (CLUSTER_*, PORT, ...).
const ArgMax = 1<<20 - 64<<10
