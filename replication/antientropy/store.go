package antientropy

import (
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

// MerkleStore is the part of the local store the MerkleService reads.
// storage.Engine implements it. Every method may be called concurrently by
// any number of RPC handlers, reads the last committed state without
// waiting for writes, and returns results the caller owns. Out-of-range
// arguments fail with an error matching storage.ErrInvalidArgument.
type MerkleStore interface {
	// MerkleRoots returns the root of each partition's tree, in the order of
	// parts.
	MerkleRoots(parts []keyspace.Partition) ([][storage.HashSize]byte, error)
	// MerkleNodes returns nodes of one level of p's tree, in the order of
	// indexes (nil: the whole level).
	MerkleNodes(p keyspace.Partition, level int, indexes []int) ([][storage.HashSize]byte, error)
	// LeafEntries returns the keys under one leaf of p's tree with their
	// entry hashes, in storage-key order.
	LeafEntries(p keyspace.Partition, leaf int) ([]storage.KeyHash, error)
	// Get returns the object under key, or an error matching
	// storage.ErrNotFound.
	Get(key []byte) (*conflict.Object, error)
}

// Merger merges an object into the local store durably. storage.Engine
// implements it. Merge blocks until the merged object is durable and may be
// called concurrently (concurrent merges share a group commit); it returns
// the stored result, which the caller owns, and does not keep obj.
type Merger interface {
	Merge(key []byte, obj *conflict.Object) (*conflict.Object, error)
}

// Store is the local store as a round uses it: its Merkle trees and
// objects, and Merge to take in a peer's objects. storage.Engine
// implements it; node passes one whose Merge goes through the GraceStore.
type Store interface {
	MerkleStore
	Merger
}

// Scanner reads a partition in storage-key order. storage.Engine
// implements it.
type Scanner interface {
	// Scan calls fn for every object of partition p after the storage key
	// after (nil: from the start) until fn returns false. fn must not keep
	// key or obj beyond the call unless it copies them.
	Scan(p keyspace.Partition, after []byte, fn func(key []byte, obj *conflict.Object) bool) error
}

// PurgeStore is the local store as the Purger uses it. storage.Engine
// implements it.
type PurgeStore interface {
	Scanner
	// Purge deletes key only if it is still encoded as expect.
	Purge(key, expect []byte) (bool, error)
	// Stats returns the store's counters; a sweep is skipped when it holds
	// no tombstone.
	Stats() storage.Stats
}
