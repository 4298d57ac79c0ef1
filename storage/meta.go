package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/quorumkv/quorumkv/conflict"
)

// maxMetaName bounds the names given to Meta and PutMeta.
const maxMetaName = 256

func metaKey(name string) ([]byte, error) {
	if name == "" || len(name) > maxMetaName {
		return nil, fmt.Errorf("%w: metadata name %q must be 1 to %d bytes", ErrInvalidArgument, name, maxMetaName)
	}
	return append([]byte(userMetaPrefix), name...), nil
}

// Meta returns the value stored under name by PutMeta (node identity,
// cluster settings, ...), which the caller owns, and ok false if there is
// none.
func (e *Engine) Meta(name string) (v []byte, ok bool, err error) {
	k, err := metaKey(name)
	if err != nil {
		return nil, false, err
	}
	err = e.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(k); b != nil {
			v, ok = bytes.Clone(b), true
		}
		return nil
	})
	return v, ok, err
}

// PutMeta stores v under name and returns once it is durable. The names
// live apart from the engine's own metadata.
func (e *Engine) PutMeta(name string, v []byte) error {
	k, err := metaKey(name)
	if err != nil {
		return err
	}
	v = bytes.Clone(v)
	if v == nil {
		v = []byte{}
	}
	return e.submit(func(st *txState) (bool, error) {
		if err := st.put(st.meta, k, v); err != nil {
			return false, fmt.Errorf("put metadata %q: %w", name, err)
		}
		return true, nil
	})
}

// LoadLease returns the dot lease stored by SaveLease, ok false if none
// was ever stored. It implements conflict.LeaseStore.
func (e *Engine) LoadLease() (l conflict.Lease, ok bool, err error) {
	err = e.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(metaLease)
		if v == nil {
			return nil
		}
		if len(v) != 16 {
			return fmt.Errorf("%w: dot lease has %d bytes", ErrCorrupt, len(v))
		}
		l = conflict.Lease{
			Actor:    conflict.ActorID(binary.BigEndian.Uint64(v)),
			Reserved: binary.BigEndian.Uint64(v[8:]),
		}
		ok = true
		return nil
	})
	return l, ok, err
}

// SaveLease stores l and returns once it is durable. It implements
// conflict.LeaseStore.
func (e *Engine) SaveLease(l conflict.Lease) error {
	v := binary.BigEndian.AppendUint64(nil, uint64(l.Actor))
	v = binary.BigEndian.AppendUint64(v, l.Reserved)
	return e.submit(func(st *txState) (bool, error) {
		if err := st.put(st.meta, metaLease, v); err != nil {
			return false, fmt.Errorf("save dot lease: %w", err)
		}
		return true, nil
	})
}

// LoadMembers returns the member table stored by SaveMembers, which the
// caller owns, or nil if none was stored.
func (e *Engine) LoadMembers() ([]byte, error) {
	var out []byte
	err := e.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMembers).Get(memberTableKey); v != nil {
			out = bytes.Clone(v)
		}
		return nil
	})
	return out, err
}

// SaveMembers stores the member table (its encoding is the cluster
// package's) and returns once it is durable.
func (e *Engine) SaveMembers(table []byte) error {
	v := bytes.Clone(table)
	if v == nil {
		v = []byte{}
	}
	return e.submit(func(st *txState) (bool, error) {
		if err := st.put(st.members, memberTableKey, v); err != nil {
			return false, fmt.Errorf("save member table: %w", err)
		}
		return true, nil
	})
}
