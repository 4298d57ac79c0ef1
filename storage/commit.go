package storage

import (
	"errors"
	"fmt"
	"runtime"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// request is one write handed to the committer. apply runs inside the
// committer's transaction; it may run more than once (a transaction it
// shared may fail for another write's sake and be retried without it), so
// it must set its results afresh each time.
type request struct {
	apply func(st *txState) (changed bool, err error)
	// afterCommit, if set, runs once the transaction that holds the
	// write has committed, under the engine's state lock, with the
	// counters as committed; it sets e.state itself.
	afterCommit func(c counters)

	changed bool
	err     error
	done    chan struct{}
}

// submit hands apply to the committer and waits until the transaction
// that holds it is durable, or it failed.
func (e *Engine) submit(apply func(st *txState) (bool, error)) error {
	e.gate.RLock()
	closed := e.closed
	e.gate.RUnlock()
	if closed {
		return ErrClosed
	}
	return e.submitWith(apply, nil)
}

// submitWith is submit with a function to run once the write committed
// (see request.afterCommit).
func (e *Engine) submitWith(apply func(st *txState) (bool, error), afterCommit func(c counters)) error {
	r := &request{apply: apply, afterCommit: afterCommit, done: make(chan struct{})}
	e.gate.RLock()
	if e.reqsClosed {
		e.gate.RUnlock()
		return ErrClosed
	}
	e.reqs <- r
	e.gate.RUnlock()
	<-r.done
	return r.err
}

// idleYields is how many yields in a row that bring no new write end the
// gathering of a batch.
const idleYields = 1

// commitLoop is the committer, started by Open and stopped by Close (which
// closes reqs). It takes whatever is queued, up to MaxBatch, without
// waiting for more, and commits it in one transaction.
func (e *Engine) commitLoop() {
	defer close(e.done)
	batch := make([]*request, 0, e.cfg.MaxBatch)
	for r := range e.reqs {
		batch = append(batch[:0], r)
		// Take what is queued, then yield (not wait) and take what the
		// writers just answered queued meanwhile, until yields bring
		// nothing new. An idle engine so commits a lone write at once.
		idle := 0
		for len(batch) < e.cfg.MaxBatch {
			n := len(batch)
			if !e.drain(&batch) {
				break
			}
			if len(batch) > n {
				idle = 0
			} else if idle++; idle > idleYields {
				break
			}
			runtime.Gosched()
		}
		e.commit(batch)
		for _, r := range batch {
			close(r.done)
		}
		clear(batch)
	}
}

// drain appends queued requests to batch, up to MaxBatch, without
// waiting. It reports false once reqs is closed.
func (e *Engine) drain(batch *[]*request) (open bool) {
	for len(*batch) < e.cfg.MaxBatch {
		select {
		case r, ok := <-e.reqs:
			if !ok {
				return false
			}
			*batch = append(*batch, r)
		default:
			return true
		}
	}
	return true
}

// commit applies batch in one transaction. When a write fails after
// changing something, the transaction is rolled back and the others are
// committed without it, then it is retried alone; when the transaction
// fails as a whole, each write is retried alone. So one bad write fails
// alone.
func (e *Engine) commit(batch []*request) {
	culprit, err := e.commitOnce(batch)
	switch {
	case err == nil:
	case len(batch) == 1:
		batch[0].err = err
	case culprit >= 0:
		e.commit(slices.Concat(batch[:culprit], batch[culprit+1:]))
		e.commit(batch[culprit : culprit+1])
	default:
		for i := range batch {
			e.commit(batch[i : i+1])
		}
	}
}

// commitOnce runs batch in one read-write transaction and commits it. A
// write that fails before changing anything fails alone (its err is set).
// One that fails after changing something aborts the transaction: its
// index in batch and error are returned. Other failures return index -1.
func (e *Engine) commitOnce(batch []*request) (culprit int, err error) {
	tx, err := e.db.Begin(true)
	if err != nil {
		return -1, fmt.Errorf("begin write transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	st, err := newTxState(e, tx)
	if err != nil {
		return -1, err
	}
	for i, r := range batch {
		before := st.mutations
		r.changed, r.err = applySafely(r, st)
		if r.err != nil && st.mutations != before {
			return i, r.err
		}
	}
	if st.mutations == 0 {
		// Nothing to make durable: what the writes read was committed
		// (and synced) before this transaction began.
		return -1, nil
	}
	if err := st.flush(); err != nil {
		return -1, err
	}
	if err := tx.Commit(); err != nil {
		return -1, fmt.Errorf("commit: %w", err)
	}
	committed = true
	e.mu.Lock()
	e.state = st.counters
	for _, r := range batch {
		if r.err == nil && r.changed && r.afterCommit != nil {
			r.afterCommit(st.counters)
		}
	}
	e.mu.Unlock()
	return -1, nil
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
	pages     map[uint16]*dirtyPage
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

// mutated runs the test hook after a change to the transaction.
func (st *txState) mutated(b *bolt.Bucket, k []byte) error {
	if st.e.afterMutation == nil {
		return nil
	}
	var name []byte
	switch b {
	case st.objects:
		name = bucketObjects
	case st.merkle:
		name = bucketMerkle
	case st.meta:
		name = bucketMeta
	case st.hints:
		name = bucketHints
	case st.members:
		name = bucketMembers
	}
	return st.e.afterMutation(name, k)
}

// put stores k -> v in b. Like del, it counts the change before making
// it, so a failed change still aborts the transaction.
func (st *txState) put(b *bolt.Bucket, k, v []byte) error {
	st.mutations++
	if err := b.Put(k, v); err != nil {
		return err
	}
	return st.mutated(b, k)
}

// del deletes k from b.
func (st *txState) del(b *bolt.Bucket, k []byte) error {
	st.mutations++
	if err := b.Delete(k); err != nil {
		return err
	}
	return st.mutated(b, k)
}

// flush writes the counters and the touched Merkle pages.
func (st *txState) flush() error {
	if err := writeCounters(st.meta, st.counters); err != nil {
		return fmt.Errorf("write counters: %w", err)
	}
	for p, d := range st.pages {
		if err := d.write(st.merkle, p); err != nil {
			return fmt.Errorf("write merkle tree of partition %d: %w", p, err)
		}
	}
	return nil
}
