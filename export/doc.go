// Package export turns a loaded Clusterfile or Procfile into what another
// supervisor runs: systemd units, a Kubernetes Deployment with its Services,
// or a Procfile.
//
// Model: the exported units and objects run one `cluster run` per machine or
// pod, which reads the same Clusterfile there. So they carry only what the
// outer supervisor must know (how to start, stop, reload and probe cluster,
// which sockets to hold, how much memory to grant) and leave the process
// types to cluster.
//
// Invariants:
//   - Output is a function of the Config and the options: the same input
//     gives the same bytes (sorted maps, names without randomness).
//   - A value read from a dotenv file is never written: Kubernetes gets a
//     Secret reference and the command that makes the Secret.
//   - Every Kubernetes name is derived from the cluster and type names by
//     fixed rules (objectName, portName); two types that would share a name
//     are an error naming both, never a silent overwrite.
//   - Nothing here starts a process or talks to a cluster; the only I/O is
//     reading the dotenv files to learn which keys they define.
//
// The tests check every Kubernetes object against the official API types
// with strict decoding, and every name with apimachinery's validation; the
// scripts in testdata/script check systemd units with systemd-analyze and
// socket activation end to end.
package export
