// Package storage is quorumkv's bbolt engine. It owns one node's data file
// (Dir/data.db) and everything in it:
//
//   - the objects, one per key, stored as their canonical conflict encoding
//     under the storage key partition ‖ key hash ‖ key (see Key), so a
//     partition is a contiguous range in key order;
//   - a Merkle tree of 256 leaves per partition and the node digest (the sum
//     mod 2^128 of every object's entry hash), both updated in the same
//     transaction as the objects they cover;
//   - the key and tombstone counters shown by status;
//   - node metadata: the dot lease (conflict.LeaseStore), node identity and
//     cluster settings (Meta, PutMeta) and the member table;
//   - hints for replicas that missed a write.
//
// Every write is acknowledged (its method returns) only once the bbolt
// transaction that holds it has been committed and fsync'd. By default
// concurrent writers share transactions: one committer goroutine, owned by
// the Engine, takes whatever writes are queued, applies each in turn in one
// transaction, commits once and answers them all (group commit). A write
// whose function fails fails alone; the others in its transaction commit.
//
// An Engine is safe for concurrent use. Reads run in their own read-only
// transactions and never wait for the committer.
//
// The package knows nothing of replication or the ring: it merges with the
// policy it is given and exposes Merkle trees and hints for the replication
// package to use.
package storage
