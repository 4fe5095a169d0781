package procfile

// ArgMax is the most room (see ArgSize) a worker's argv and environment may
// take. Linux allows a quarter of the stack rlimit (at least 128 KiB, at most
// 6 MiB): 2 MiB with the usual 8 MiB stack. ArgMax keeps 64 KiB of that in
// reserve for what ArgSize does not count: the program's path, which the
// kernel copies too, the variables the runner adds (CLUSTER_*, PORT,
// LISTEN_*, NOTIFY_SOCKET, ...) and the end-of-list pointers. With a stack
// rlimit under 8 MiB exec may still fail with E2BIG before ArgMax is reached;
// the runner reports that at start.
const ArgMax = 2<<20 - 64<<10
