// Package keyspace owns the shape of the key space: the limits on keys and
// values, the 64-bit key hash, the fixed partition count Q and the mapping
// of a key to its partition.
//
// It is a leaf: it imports nothing of quorumkv's, so storage, the ring and
// the client agree on where a key lives without depending on each other.
package keyspace
