// Package storage is quorumkv's bbolt engine. It owns one node's data file
// (Dir/data.db) and everything in it:
//
//   - the objects, one per key, stored as their canonical conflict encoding
//     under the storage key partition ‖ key hash ‖ key (see Key), so a
//     partition is a contiguous range in key order;
//   - a Merkle tree of 256 leaves per partition and the node digest (the sum
//     mod 2^128 of every object's entry hash), both written in the same
//     transaction as the objects they cover;
//   - the key and tombstone counters shown by status;
//   - node metadata: the dot lease (conflict.LeaseStore), node identity and
//     cluster settings (Meta, PutMeta) and the member table;
//   - hints for replicas that missed a write.
//
// Object writes go through a commit log (Dir/wal) first: a write is
// merged under its key's lock, appended to the log as one record, and
// acknowledged (its method returns; Stage's wait returns nil) once an
// fdatasync of the log covers it. One syncer goroutine, owned by the
// Engine, syncs whatever was appended meanwhile in one go (group commit).
// Durable records wait in a memtable until a flusher goroutine writes them
// to bbolt in one transaction with the Merkle leaves, the counters, the
// digest and the log position they cover; then the covered segments are
// deleted. Open replays the log past that position. Until its sync, a
// record is seen only by writes of the same key; reads, the Merkle trees,
// the digest and the counters see durable records only. A failed log write
// or sync closes Failed: the engine takes no more writes and the node must
// stop. Hints, metadata, leases and the member table are written to bbolt
// directly, in transactions a committer goroutine groups.
//
// An Engine is safe for concurrent use. Get never waits for a writer;
// reads of whole partitions (Scan, MerkleRoots, MerkleNodes, LeafEntries,
// Snapshot) flush first.
//
// The package knows nothing of replication or the ring: it merges with the
// policy it is given and exposes Merkle trees and hints for the replication
// package to use.
package storage
