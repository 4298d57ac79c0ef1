package storage

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
)

// scanChunk is how many objects Scan reads per read transaction.
const scanChunk = 256

// Get returns the object stored under key, which the caller owns, or an
// error wrapping ErrNotFound. It reads the durable state (the memtables,
// then bbolt) and never waits for a writer.
func (e *Engine) Get(key []byte) (*conflict.Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	sk := Key(key)
	if en, ok := e.inMemtables(sk); ok {
		if en.enc == nil {
			return nil, ErrNotFound
		}
		obj, err := conflict.DecodeObject(en.enc)
		if err != nil {
			return nil, fmt.Errorf("%w: object of key %q: %w", ErrCorrupt, key, err)
		}
		return obj, nil
	}
	var obj *conflict.Object
	err := e.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketObjects).Get(sk)
		if v == nil {
			return ErrNotFound
		}
		var err error
		if obj, err = conflict.DecodeObject(v); err != nil {
			return fmt.Errorf("%w: object of key %q: %w", ErrCorrupt, key, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// Scan calls fn with each key of partition p and its object, in storage
// key order, starting after the storage key after (nil: from the start of
// the partition; see Key), until fn returns false. fn owns what it
// is given and may call the Engine, writes included: Scan reads in chunks,
// each in its own read transaction, and holds none while fn runs. So Scan
// is not a snapshot: it sees each key at most once, and a key written
// during the scan may show its old or new object, or be missed if added.
func (e *Engine) Scan(p keyspace.Partition, after []byte, fn func(key []byte, obj *conflict.Object) bool) error {
	if err := checkPartition(p); err != nil {
		return err
	}
	if err := e.flushIfDirty(); err != nil {
		return err
	}
	prefix := partitionPrefix(p)
	from, skip := prefix, false
	if bytes.Compare(after, prefix) >= 0 {
		from, skip = bytes.Clone(after), true
	}
	type entry struct {
		sk  []byte
		obj *conflict.Object
	}
	chunk := make([]entry, 0, scanChunk)
	for {
		chunk = chunk[:0]
		more := false
		err := e.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketObjects).Cursor()
			k, v := c.Seek(from)
			if skip && bytes.Equal(k, from) {
				k, v = c.Next()
			}
			for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if len(chunk) == scanChunk {
					more = true
					return nil
				}
				if len(k) <= keyPrefixBytes {
					return fmt.Errorf("%w: storage key %x too short", ErrCorrupt, k)
				}
				obj, err := conflict.DecodeObject(v)
				if err != nil {
					return fmt.Errorf("%w: object of key %q: %w", ErrCorrupt, userKey(k), err)
				}
				chunk = append(chunk, entry{bytes.Clone(k), obj})
			}
			return nil
		})
		if err != nil {
			return err
		}
		var next []byte
		if more {
			next = bytes.Clone(chunk[len(chunk)-1].sk) // fn owns the keys it gets
		}
		for _, en := range chunk {
			if !fn(userKey(en.sk), en.obj) {
				return nil
			}
		}
		if !more {
			return nil
		}
		from, skip = next, true
	}
}
