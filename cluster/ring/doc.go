// Package ring owns the partition ring: which nodes replicate which of the Q
// fixed partitions, now and once the joins and leaves under way complete.
//
// Each member owns VNodes tokens on a 64-bit ring, token i at
// xxhash64(seed + "/" + i), where the seed is the member's id, or for a
// member that replaced another the id it took the tokens of
// (Member.TokensOf): they derive from the seed alone, so every node that
// knows the same member table computes the same ring, and a replacer owns
// exactly the replaced member's partitions. Of counted members sharing a
// seed only one owns the tokens (Ring.Shadowed lists the others). Partition p covers the hash range starting at p << (64-log2 Q);
// its replicas are the first N distinct counted members met clockwise from
// that start (the first token >= start, wrapping around).
//
// A Ring is an immutable snapshot built by New from a member table. It keeps
// two views:
//
//   - current: Normal and Leaving members count. These serve reads and
//     acknowledge writes; a leaving member serves until it has handed off.
//   - future: Normal and Joining members count. This is the ring once every
//     join and leave under way completes.
//
// Left and Removed members count in neither. Members in the future view but
// not the current one for a partition are its pending replicas: they must
// receive writes while the partition moves (they are WriteTargets) but do
// not count toward W.
//
// A Holder publishes the ring a node currently uses: readers Load it without
// locking, and Subscribe to learn, without goroutines, that it changed.
//
// The package is a leaf: it imports nothing of quorumkv's. Callers pass the
// partition count Q (keyspace.Q) and the replication factor N.
package ring
