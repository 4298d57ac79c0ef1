package storage

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
)

// keyStripes is how many locks serialize the writes of keys: two writes
// of one key always take the same lock.
const keyStripes = 1024

// Update reads, modifies and writes the object under key durably: fn gets
// the stored object (nil when absent, its own copy) and returns the object
// to store. fn runs under the key's lock: it must not block or call the
// Engine. If fn returns an error, nothing is written and Update returns it
// wrapped. If fn returns an object that encodes to the stored bytes,
// nothing is written.
//
// Update returns once the object is durable (its record is in the commit
// log and fdatasync'd) and returns the stored object, which the caller
// owns.
func (e *Engine) Update(key []byte, fn func(cur *conflict.Object) (*conflict.Object, error)) (*conflict.Object, error) {
	obj, wait, err := e.Stage(key, fn)
	if err != nil {
		return nil, err
	}
	if err := wait(); err != nil {
		return nil, err
	}
	return obj, nil
}

// Stage is Update in two steps, for a coordinator that sends its write to
// the other replicas while its own copy becomes durable: it applies fn
// like Update and returns the object to store at once, with wait, which
// returns nil once that object is durable or the error that kept it from
// being so (matching ErrFatal: the node must stop). Until wait has
// returned nil, the object is seen only by Stage and Update of the same
// key (so a second write of the key builds on it), never by Get, Scan, the
// Merkle trees or the digest: no reader is shown what a crash could still
// take back. If fn fails, Stage returns its error wrapped and nothing is
// staged. wait may be called from any goroutine, more than once. The
// caller owns obj.
func (e *Engine) Stage(key []byte, fn func(cur *conflict.Object) (*conflict.Object, error)) (obj *conflict.Object, wait func() error, err error) {
	var stored *conflict.Object
	g, err := e.stage(key, func(cur *conflict.Object, curEnc []byte) (*record, error) {
		next, err := fn(cur)
		if err != nil {
			return nil, fmt.Errorf("update of key %q: %w", key, err)
		}
		if next == nil {
			return nil, fmt.Errorf("%w: update of key %q returned no object", ErrInvalidArgument, key)
		}
		enc := next.Marshal()
		if curEnc != nil && bytes.Equal(curEnc, enc) {
			stored = cur
			return nil, nil
		}
		stored = next
		return &record{kind: recordPut, enc: enc, obj: next}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if g == nil {
		return stored, func() error { return nil }, nil
	}
	return stored, g.wait, nil
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
	removed := false
	g, err := e.stage(key, func(_ *conflict.Object, curEnc []byte) (*record, error) {
		if curEnc == nil || expect != nil && !bytes.Equal(curEnc, expect) {
			return nil, nil
		}
		removed = true
		return &record{kind: recordDel}, nil
	})
	if err == nil && g != nil {
		err = g.wait()
	}
	return removed && err == nil, err
}

// current is the newest state of a key as a writer sees it: staged,
// durable in a memtable, or in bbolt.
type current struct {
	enc          []byte // nil: absent
	hash         sum128
	live, hidden bool
	obj          *conflict.Object // decoded from enc; the writer's own copy
	group        *syncGroup       // not nil while the state is staged only
}

// stage runs one write of key: under the key's lock it finds the key's
// newest state, lets decide build the record (nil: nothing to write) and
// appends it to the commit log. It returns the group whose fsync makes the
// key's newest state durable, or nil when it is already.
func (e *Engine) stage(key []byte, decide func(cur *conflict.Object, curEnc []byte) (*record, error)) (*syncGroup, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	e.gate.RLock()
	defer e.gate.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	if err := e.failure(); err != nil {
		return nil, err
	}
	sk := Key(key)
	mu := &e.stripes[hashOf(sk)%keyStripes]
	mu.Lock()
	defer mu.Unlock()
	// Again under the key's lock: a DropPartition that failed while this
	// write waited for the lock has left the key's state unknown.
	if err := e.failure(); err != nil {
		return nil, err
	}
	cur, err := e.current(sk)
	if err != nil {
		return nil, err
	}
	r, err := decideSafely(decide, cur)
	if err != nil || r == nil {
		return cur.group, err
	}
	r.sk = sk
	if r.kind == recordPut {
		r.hash = entryHash(key, r.enc)
		r.live, r.hidden = r.obj.Live(), r.obj.HiddenPart()
		r.obj = nil // the caller owns it; a later writer decodes enc
	}
	if cur.enc != nil {
		r.prevExists, r.prevHash, r.prevLive, r.prevHide = true, cur.hash, cur.live, cur.hidden
	}
	// Pending before appended: the syncer removes it once durable.
	e.pendMu.Lock()
	e.pending[string(sk)] = r
	e.pendMu.Unlock()
	return e.log.append(r), nil
}

// decideSafely runs decide, turning a panic of the caller's function
// into that write's error.
func decideSafely(decide func(*conflict.Object, []byte) (*record, error), cur current) (r *record, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%w: %v", errPanicked, p)
		}
	}()
	return decide(cur.obj, cur.enc)
}

// current returns the newest state of sk: a staged record, else a
// memtable entry, else bbolt's. The caller holds sk's stripe lock.
func (e *Engine) current(sk []byte) (current, error) {
	e.pendMu.Lock()
	r := e.pending[string(sk)]
	e.pendMu.Unlock()
	var c current
	if r != nil {
		c.group = r.group
		if r.kind != recordPut {
			return c, nil
		}
		c.enc, c.hash, c.live, c.hidden = r.enc, r.hash, r.live, r.hidden
	} else {
		en, obj, ok, err := e.durable(sk)
		if err != nil || !ok {
			return c, err
		}
		c.enc, c.hash, c.live, c.hidden = en.enc, en.hash, en.live, en.hidden
		if obj != nil {
			c.obj = obj
			return c, nil
		}
	}
	var err error
	if c.obj, err = conflict.DecodeObject(c.enc); err != nil {
		return c, fmt.Errorf("%w: object of key %q: %w", ErrCorrupt, userKey(sk), err)
	}
	return c, nil
}

// inMemtables returns sk's state in the active memtable, else in the
// frozen one; ok is false when neither holds it (bbolt's state is then
// the durable one). An entry with a nil enc is a removal.
func (e *Engine) inMemtables(sk []byte) (en memEntry, ok bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if en, ok = e.active.entries[string(sk)]; !ok && e.frozen != nil {
		en, ok = e.frozen.entries[string(sk)]
	}
	return en, ok
}

// durable returns the durable state of sk: from a memtable, else from
// bbolt (hash and flags computed, and obj decoded, which the caller
// owns). ok is false when sk is absent.
func (e *Engine) durable(sk []byte) (en memEntry, obj *conflict.Object, ok bool, err error) {
	if en, ok = e.inMemtables(sk); ok {
		return en, nil, en.enc != nil, nil
	}
	err = e.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketObjects).Get(sk); v != nil {
			en.enc = bytes.Clone(v)
		}
		return nil
	})
	if err != nil || en.enc == nil {
		return memEntry{}, nil, false, err
	}
	if obj, err = conflict.DecodeObject(en.enc); err != nil {
		return memEntry{}, nil, false, fmt.Errorf("%w: object of key %q: %w", ErrCorrupt, userKey(sk), err)
	}
	en.hash = entryHash(userKey(sk), en.enc)
	en.live, en.hidden = obj.Live(), obj.HiddenPart()
	return en, obj, true, nil
}

// applyDurable takes in records the log has made durable, in log order:
// each reaches the memtable (so readers, the counters and the digest see
// it) and leaves the staged set unless a later write of its key replaced
// it there.
func (e *Engine) applyDurable(recs []*record) {
	e.mu.Lock()
	for _, r := range recs {
		e.active.apply(r)
	}
	e.mu.Unlock()
	e.pendMu.Lock()
	for _, r := range recs {
		if e.pending[string(r.sk)] == r {
			delete(e.pending, string(r.sk))
		}
	}
	e.pendMu.Unlock()
	if e.cfg.OnSync != nil {
		e.cfg.OnSync(len(recs))
	}
	e.maybeFlush()
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
