// Package node is the composition root of a quorumkv server: it opens the
// storage engine, bootstraps or loads the cluster settings, and wires the
// coordinator, the gRPC servers and the metrics endpoint together, and
// reports readiness (/readyz and the gRPC health service). Run owns
// every goroutine it starts and returns once they have all stopped.
//
// Only cmd/kvnode and tests import it.
package node
