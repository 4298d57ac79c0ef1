// Package replication owns the request path of a key and the convergence of
// its replicas: the coordinator that validates a client request, stamps
// writes with a dot and a hybrid logical timestamp, applies them to the
// key's N replicas at the requested consistency level and reports what
// happened in a Receipt; the peer transport (batched gRPC streams, and an
// in-memory one for tests) and the Exchange server that answers it; read
// repair and hinted handoff. Merkle anti-entropy, tombstone purge and
// partition streaming, which converge replicas outside the request path,
// are package replication/antientropy's; it imports this package, never
// the other way.
//
// PeerConns is the node's one pool of connections to its peers, shared by
// the transport and by anti-entropy, purge and forwarding; Clock is the one
// wall clock every time rule reads (the HLC's).
//
// A ClockFence, fed the peers' clock offsets (gossip probes and replica
// replies carry the sender's wall time), keeps a node whose clock is too
// far from the cluster's from stamping writes (DESIGN.md, Clocks): it is
// checked under the key's lock just before a write is stamped, and a
// replica's refusal of a timestamp (ReplicaError.clock_offset) fences the
// coordinator at once. Such refusals get no hint and are never retried.
//
// Quorum accounting is a pure type (tally). Everything the coordinator
// starts in the background is owned by it and stopped by Close.
package replication
