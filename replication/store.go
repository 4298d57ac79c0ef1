package replication

import "github.com/quorumkv/quorumkv/conflict"

// Store is a replica's durable object store, as the coordinator uses it.
// storage.Engine implements it.
type Store interface {
	// Get returns the object stored under key, or an error that matches
	// storage.ErrNotFound. The caller owns the result.
	Get(key []byte) (*conflict.Object, error)
	// Update replaces the object under key with fn's result in one durable
	// transaction and returns what was stored; it returns only after the
	// transaction is fsync'd. fn receives nil when the key is absent, must
	// not keep or change cur, may run more than once, and aborts the update
	// by returning an error, which Update returns wrapped.
	Update(key []byte, fn func(cur *conflict.Object) (*conflict.Object, error)) (*conflict.Object, error)
}
