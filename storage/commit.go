package storage

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// request is one write handed to the committer. apply runs inside the
// committer's transaction; it may run more than once (when a transaction
// it shared fails for another write's sake, each write is retried alone),
// so it must set its results afresh each time.
type request struct {
	apply func(st *txState) (changed bool, err error)

	changed bool
	err     error
	done    chan struct{}
}

// submit hands apply to the committer and waits until the transaction
// that holds it is durable, or it failed.
func (e *Engine) submit(apply func(st *txState) (bool, error)) error {
	r := &request{apply: apply, done: make(chan struct{})}
	e.gate.RLock()
	if e.closed {
		e.gate.RUnlock()
		return ErrClosed
	}
	e.reqs <- r
	e.gate.RUnlock()
	<-r.done
	return r.err
}

// commitLoop is the committer, started by Open and stopped by Close (which
// closes reqs). It takes whatever is queued, up to MaxBatch, without
// waiting for more, and commits it in one transaction.
func (e *Engine) commitLoop() {
	defer close(e.done)
	batch := make([]*request, 0, e.cfg.MaxBatch)
	for r := range e.reqs {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < e.cfg.MaxBatch {
			select {
			case r, ok := <-e.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		e.commit(batch)
		for _, r := range batch {
			close(r.done)
		}
		clear(batch)
	}
}

// commit applies batch in one transaction. If the transaction fails as a
// whole, each write is retried in a transaction of its own, so one bad
// write fails alone.
func (e *Engine) commit(batch []*request) {
	err := e.commitOnce(batch)
	if err == nil {
		return
	}
	if len(batch) == 1 {
		batch[0].err = err
		return
	}
	for i := range batch {
		e.commit(batch[i : i+1])
	}
}

// commitOnce runs batch in one read-write transaction and commits it. A
// write that fails before changing anything fails alone (its err is set);
// one that fails after changing something aborts the transaction, returned
// as the error.
func (e *Engine) commitOnce(batch []*request) (err error) {
	tx, err := e.db.Begin(true)
	if err != nil {
		return fmt.Errorf("begin write transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	st, err := newTxState(e, tx)
	if err != nil {
		return err
	}
	writes := 0
	for _, r := range batch {
		before := st.mutations
		r.changed, r.err = applySafely(r, st)
		switch {
		case r.err != nil && st.mutations != before:
			return r.err
		case r.changed:
			writes++
		}
	}
	if st.mutations == 0 {
		// Nothing to make durable: what the writes read was committed
		// (and synced) before this transaction began.
		return nil
	}
	if err := st.flush(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	e.stateMu.Lock()
	e.state = st.counters
	e.stateMu.Unlock()
	if e.cfg.OnSync != nil {
		e.cfg.OnSync(writes)
	}
	return nil
}

// errPanicked marks a write whose function panicked.
var errPanicked = errors.New("write panicked")

// applySafely runs r.apply, turning a panic of the caller's function into
// that write's error so the committer survives it.
func applySafely(r *request, st *txState) (changed bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			changed, err = false, fmt.Errorf("%w: %v", errPanicked, p)
		}
	}()
	return r.apply(st)
}

// txState is what one write transaction changes besides objects: the
// counters and the Merkle pages it touched, kept in memory and written
// once by flush. Every change goes through its methods, which count
// mutations.
type txState struct {
	e         *Engine
	tx        *bolt.Tx
	objects   *bolt.Bucket
	merkle    *bolt.Bucket
	meta      *bolt.Bucket
	hints     *bolt.Bucket
	members   *bolt.Bucket
	counters  counters
	pages     map[uint16]*merklePage
	mutations int
}

func newTxState(e *Engine, tx *bolt.Tx) (*txState, error) {
	st := &txState{
		e:       e,
		tx:      tx,
		objects: tx.Bucket(bucketObjects),
		merkle:  tx.Bucket(bucketMerkle),
		meta:    tx.Bucket(bucketMeta),
		hints:   tx.Bucket(bucketHints),
		members: tx.Bucket(bucketMembers),
	}
	c, err := readCounters(st.meta)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	st.counters = c
	return st, nil
}

// mutated records a change to the transaction.
func (st *txState) mutated() error {
	st.mutations++
	if st.e.afterMutation != nil {
		return st.e.afterMutation()
	}
	return nil
}

// put stores k -> v in b.
func (st *txState) put(b *bolt.Bucket, k, v []byte) error {
	st.mutations++
	if err := b.Put(k, v); err != nil {
		return err
	}
	return st.mutated()
}

// del deletes k from b.
func (st *txState) del(b *bolt.Bucket, k []byte) error {
	st.mutations++
	if err := b.Delete(k); err != nil {
		return err
	}
	return st.mutated()
}

// flush writes the counters and the touched Merkle pages.
func (st *txState) flush() error {
	if err := writeCounters(st.meta, st.counters); err != nil {
		return fmt.Errorf("write counters: %w", err)
	}
	for p, page := range st.pages {
		if err := st.merkle.Put(merkleKey(p), page[:]); err != nil {
			return fmt.Errorf("write merkle page %d: %w", p, err)
		}
	}
	return nil
}
