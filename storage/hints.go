package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/quorumkv/quorumkv/conflict"
)

// Hint is an object a replica (Target, a node id) missed: delivered when
// the target is back, dropped when it has been away too long.
type Hint struct {
	Target string
	Key    []byte
	Object *conflict.Object
	// Created is when the oldest write merged into the hint was hinted.
	Created time.Time
}

const hintCreatedBytes = 8

func checkTarget(target string) error {
	if target == "" || len(target) > MaxTargetBytes {
		return fmt.Errorf("%w: hint target %q must be 1 to %d bytes", ErrInvalidArgument, target, MaxTargetBytes)
	}
	return nil
}

// AddHint stores obj as a hint for target under key, merging it (under the
// engine's policy) into the hint already stored for the same target and
// key, which keeps the earlier Created. It returns once durable.
func (e *Engine) AddHint(target string, key []byte, obj *conflict.Object, created time.Time) error {
	if err := checkTarget(target); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if obj == nil {
		return fmt.Errorf("%w: hint for key %q with no object", ErrInvalidArgument, key)
	}
	hk := hintKey(target, key)
	return e.submit(func(st *txState) (bool, error) {
		cur := &conflict.Object{}
		at := created
		old := st.hints.Get(hk)
		if old != nil {
			h, err := decodeHint(target, hk, old)
			if err != nil {
				return false, err
			}
			cur = h.Object
			if h.Created.Before(at) {
				at = h.Created
			}
		}
		v := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
		v = conflict.Merge(e.cfg.Policy, cur, obj).AppendBinary(v)
		if bytes.Equal(v, old) {
			return false, nil
		}
		if err := st.put(st.hints, hk, v); err != nil {
			return false, fmt.Errorf("add hint for %s: %w", target, err)
		}
		if old == nil {
			st.counters.hints++
		}
		return true, nil
	})
}

// decodeHint decodes the hint stored as v under hint key hk.
func decodeHint(target string, hk, v []byte) (Hint, error) {
	sk := hk[2+len(target):]
	if len(sk) <= keyPrefixBytes || len(v) < hintCreatedBytes {
		return Hint{}, fmt.Errorf("%w: hint %x", ErrCorrupt, hk)
	}
	obj, err := conflict.DecodeObject(v[hintCreatedBytes:])
	if err != nil {
		return Hint{}, fmt.Errorf("%w: hint for %s of key %q: %w", ErrCorrupt, target, userKey(sk), err)
	}
	return Hint{
		Target:  target,
		Key:     bytes.Clone(userKey(sk)),
		Object:  obj,
		Created: time.Unix(0, int64(binary.BigEndian.Uint64(v))),
	}, nil
}

// Hints returns up to limit hints for target (all of them if limit <= 0),
// in storage key order. The caller owns them.
func (e *Engine) Hints(target string, limit int) ([]Hint, error) {
	return e.HintsAfter(target, nil, limit)
}

// HintsAfter returns up to limit hints for target (all of them if limit <=
// 0) that follow the hint of key after in storage key order (from the
// first when after is nil), so a caller can page past hints it leaves in
// place. The caller owns them.
func (e *Engine) HintsAfter(target string, after []byte, limit int) ([]Hint, error) {
	if err := checkTarget(target); err != nil {
		return nil, err
	}
	prefix := hintPrefix(target)
	start := prefix
	if after != nil {
		if err := checkKey(after); err != nil {
			return nil, err
		}
		start = hintKey(target, after)
	}
	var out []Hint
	err := e.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHints).Cursor()
		k, v := c.Seek(start)
		if after != nil && bytes.Equal(k, start) {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if limit > 0 && len(out) == limit {
				return nil
			}
			h, err := decodeHint(target, k, v)
			if err != nil {
				return err
			}
			out = append(out, h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HintBytes returns the bytes the hints for target take (their stored
// values), reading every one of them.
func (e *Engine) HintBytes(target string) (int64, error) {
	if err := checkTarget(target); err != nil {
		return 0, err
	}
	prefix := hintPrefix(target)
	var n int64
	err := e.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHints).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			n += int64(len(k) + len(v))
		}
		return nil
	})
	return n, err
}

// DeleteHint deletes h once delivered, if the stored hint still holds the
// object h holds: a hint merged since h was read stays, to be delivered
// again. It returns once durable; a missing or changed hint is not an
// error.
func (e *Engine) DeleteHint(h Hint) error {
	if err := checkTarget(h.Target); err != nil {
		return err
	}
	if err := checkKey(h.Key); err != nil {
		return err
	}
	if h.Object == nil {
		return fmt.Errorf("%w: hint for key %q with no object", ErrInvalidArgument, h.Key)
	}
	hk := hintKey(h.Target, h.Key)
	enc := h.Object.Marshal()
	return e.submit(func(st *txState) (bool, error) {
		v := st.hints.Get(hk)
		if len(v) < hintCreatedBytes || !bytes.Equal(v[hintCreatedBytes:], enc) {
			return false, nil
		}
		if err := st.del(st.hints, hk); err != nil {
			return false, fmt.Errorf("delete hint for %s: %w", h.Target, err)
		}
		st.counters.hints--
		return true, nil
	})
}

// DropHints deletes every hint for target and returns how many there were,
// once durable.
func (e *Engine) DropHints(target string) (int, error) {
	if err := checkTarget(target); err != nil {
		return 0, err
	}
	prefix := hintPrefix(target)
	var n int
	err := e.submit(func(st *txState) (bool, error) {
		n = 0
		var keys [][]byte
		c := st.hints.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := st.del(st.hints, k); err != nil {
				return false, fmt.Errorf("drop hints for %s: %w", target, err)
			}
		}
		n = len(keys)
		st.counters.hints -= uint64(n)
		return n > 0, nil
	})
	return n, err
}
