package storage

import (
	"bytes"
	"fmt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
)

// Update reads, modifies and writes the object under key in one durable
// transaction: fn gets the stored object (nil when absent, its own copy)
// and returns the object to store. fn must be pure: it may be called more
// than once, and it runs on the committer, so it must not block or call
// the Engine. If fn returns an error, nothing is written and Update
// returns it wrapped. If fn returns an object that encodes to the stored
// bytes, nothing is written.
//
// Update returns once the object is durable (fsync'd) and returns the
// stored object, which the caller owns.
func (e *Engine) Update(key []byte, fn func(cur *conflict.Object) (*conflict.Object, error)) (*conflict.Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	sk := Key(key)
	var stored *conflict.Object
	err := e.submit(func(st *txState) (bool, error) {
		stored = nil
		curBytes := st.objects.Get(sk)
		var cur *conflict.Object
		curLive, curHidden := false, false
		if curBytes != nil {
			var err error
			if cur, err = conflict.DecodeObject(curBytes); err != nil {
				return false, fmt.Errorf("%w: object of key %q: %w", ErrCorrupt, key, err)
			}
			curLive, curHidden = cur.Live(), cur.HiddenPart() // before fn, which may change cur
		}
		next, err := fn(cur)
		if err != nil {
			return false, fmt.Errorf("update of key %q: %w", key, err)
		}
		if next == nil {
			return false, fmt.Errorf("%w: update of key %q returned no object", ErrInvalidArgument, key)
		}
		enc := next.Marshal()
		if curBytes != nil && bytes.Equal(curBytes, enc) {
			stored = cur
			return false, nil
		}
		if err := st.putObject(sk, curBytes, curLive, curHidden, next, enc); err != nil {
			return false, fmt.Errorf("write key %q: %w", key, err)
		}
		stored = next
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// Stage is Update in two steps, for a coordinator that sends its write to
// the other replicas while its own copy becomes durable: it applies fn
// like Update and returns the object to store at once, with wait, which
// returns nil once that object is durable or the error that kept it from
// being so. Until wait has returned nil, the object is seen only by Stage
// and Update of the same key (so a second write of the key builds on it),
// never by Get, Scan, the Merkle trees or the digest: no reader is shown
// what a crash could still take back. If fn fails, Stage returns its
// error wrapped and nothing is staged. wait may be called from any
// goroutine, more than once.
func (e *Engine) Stage(key []byte, fn func(cur *conflict.Object) (*conflict.Object, error)) (obj *conflict.Object, wait func() error, err error) {
	obj, err = e.Update(key, fn)
	if err != nil {
		return nil, nil, err
	}
	return obj, func() error { return nil }, nil
}

// Merge merges obj into the object stored under key (Update with
// conflict.Merge under the engine's policy) and returns the merged object
// once durable. obj is not modified.
func (e *Engine) Merge(key []byte, obj *conflict.Object) (*conflict.Object, error) {
	if obj == nil {
		return nil, fmt.Errorf("%w: merge of key %q with no object", ErrInvalidArgument, key)
	}
	return e.Update(key, func(cur *conflict.Object) (*conflict.Object, error) {
		if cur == nil {
			cur = &conflict.Object{} // so the policy applies to obj alone too
		}
		return conflict.Merge(e.cfg.Policy, cur, obj), nil
	})
}

// Delete removes the object under key, with its place in the Merkle tree,
// the digest and the counters, once durable; deleting an absent key does
// nothing. Tombstone purge uses Purge, which removes only an unchanged
// object.
func (e *Engine) Delete(key []byte) error {
	_, err := e.remove(key, nil)
	return err
}

// Purge removes the object under key only if it is still encoded as
// expect, once durable, and reports whether it did. Tombstone purge uses it
// so that a write that reached the key after the purge decision is never
// lost.
func (e *Engine) Purge(key, expect []byte) (bool, error) {
	return e.remove(key, expect)
}

// remove deletes the object under key, only if it is encoded as expect
// when expect is not nil, and reports whether it did.
func (e *Engine) remove(key, expect []byte) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	sk := Key(key)
	var removed bool
	err := e.submit(func(st *txState) (bool, error) {
		removed = false
		curBytes := st.objects.Get(sk)
		if curBytes == nil || expect != nil && !bytes.Equal(curBytes, expect) {
			return false, nil
		}
		cur, err := conflict.DecodeObject(curBytes)
		if err != nil {
			return false, fmt.Errorf("%w: object of key %q: %w", ErrCorrupt, key, err)
		}
		if err := st.deleteObject(sk, cur, curBytes); err != nil {
			return false, fmt.Errorf("delete key %q: %w", key, err)
		}
		removed = true
		return true, nil
	})
	return removed && err == nil, err
}

// putObject stores next (encoded as enc) under sk in place of the object
// encoded as curBytes (nil when absent; curLive and curHidden tell whether
// it is live and holds a hidden part) and updates the Merkle leaf, the
// digest and the counters.
func (st *txState) putObject(sk, curBytes []byte, curLive, curHidden bool, next *conflict.Object, enc []byte) error {
	key := userKey(sk)
	newHash := entryHash(key, enc)
	var oldHash sum128
	if curBytes != nil {
		oldHash = entryHash(key, curBytes) // before the put replaces it
	}
	if err := st.put(st.objects, sk, enc); err != nil {
		return err
	}
	if curBytes != nil {
		st.count(curLive, curHidden, -1)
	}
	st.count(next.Live(), next.HiddenPart(), +1)
	st.counters.digest = st.counters.digest.sub(oldHash).add(newHash)
	return st.updateLeaf(sk, oldHash, newHash)
}

// deleteObject removes cur (encoded as curBytes) stored under sk.
func (st *txState) deleteObject(sk []byte, cur *conflict.Object, curBytes []byte) error {
	oldHash := entryHash(userKey(sk), curBytes)
	if err := st.del(st.objects, sk); err != nil {
		return err
	}
	st.count(cur.Live(), cur.HiddenPart(), -1)
	st.counters.digest = st.counters.digest.sub(oldHash)
	return st.updateLeaf(sk, oldHash, sum128{})
}

// count adds delta to the key counter of a live object or the tombstone
// counter of one with nothing live, and to the hidden-part counter of an
// object with a hidden part.
func (st *txState) count(live, hidden bool, delta int) {
	if live {
		st.counters.keys += uint64(delta)
	} else {
		st.counters.tombstones += uint64(delta)
	}
	if hidden {
		st.counters.hidden += uint64(delta)
	}
}

// checkKey refuses keys the engine cannot store.
func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w: %w", ErrInvalidArgument, keyspace.ErrEmptyKey)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: %w: key is %d bytes, the engine stores at most %d",
			ErrInvalidArgument, keyspace.ErrKeyTooLarge, len(key), MaxKeyBytes)
	}
	return nil
}
