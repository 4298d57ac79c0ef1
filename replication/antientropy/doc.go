// Package antientropy owns how a node's replicas converge outside the
// request path, partition by partition:
//
//   - Merkle anti-entropy (DESIGN.md, "Anti-entropy"): AntiEntropy runs
//     rounds with each peer, periodically (Run), on demand (RepairNow,
//     kvctl repair) and to fill a joining node (FillFrom), under one rate
//     limit; MerkleService answers the peers' Merkle and FetchObjects RPCs.
//   - Tombstone purge (DESIGN.md, "Tombstones"): Purger removes tombstones
//     every current replica confirms, and GraceStore, the grace rule, drops
//     an old tombstone arriving for a key the replica no longer holds, so a
//     purged key never comes back.
//   - Partition streaming: PartitionStreamer serves a whole partition in
//     batches, and FillPartition pulls one, for bulk hand-off.
//
// The request path (coordinator, transport, read repair, hints) is package
// replication's; this package uses its vocabulary (RingView, Clock,
// ErrNotJoined, ReplicaFailure) and the Transport to push objects, and
// replication never imports it. Node composes the servers of both into its
// one Replica gRPC service.
//
// Every goroutine started here is owned by the value that starts it and
// stopped by its Close (AntiEntropy) or by the context its Run was given
// (Purger); the RPC handlers hold none.
package antientropy
