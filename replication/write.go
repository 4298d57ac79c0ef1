package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/quorumkv/quorumkv/conflict"
)

// writeResult is what one replica write returned.
type writeResult struct {
	id  string
	err error
	// ownClock: the replica refused the write's timestamp because this
	// node's clock runs ahead.
	ownClock bool
	// local: the coordinator's own durable write.
	local bool
}

// awaitLocal waits, on a goroutine the coordinator owns, for the
// coordinator's own staged write of key to be durable, and sends its
// outcome on results. A closed coordinator waits in the caller instead:
// the outcome is known before the answer either way.
func (c *Coordinator) awaitLocal(ctx context.Context, key []byte, wait func() error, results chan<- writeResult) {
	await := func(context.Context) {
		err := wait()
		if err != nil {
			c.localWriteFailed(key, err)
		}
		results <- writeResult{id: c.cfg.NodeID, err: err, local: true}
	}
	if !c.goBackground(await) {
		await(ctx)
	}
}

// writeReplicated stages fn's write on the coordinator's own copy (the
// coordinator is a replica): the dot is minted and the write merged under
// the key's serialization, and the merged object comes back at once. It
// then sends that object to the other replicas and the nodes the partition
// moves to while its own copy becomes durable, all in parallel, and
// answers once the level is met or can no longer be, or at the caller's
// deadline less the margin. The local acknowledgement counts like any
// replica's, once the store reports the object durable, and the answer
// waits for it (or for the local failure, which is this node's in the
// receipt). Replica writes still in flight then continue on a detached
// context; every one that fails leaves a hint.
func (c *Coordinator) writeReplicated(ctx context.Context, key []byte, level Level, pl placement,
	fn func(cur *conflict.Object) (*conflict.Object, error)) (Receipt, error) {
	if err := c.fatalErr(); err != nil {
		return c.failedReceipt(level, pl, true), err
	}
	t := newWriteTally(pl.replicas, pl.pending, level)
	key = bytes.Clone(key) // the replica writes outlive the call
	obj, wait, err := c.store.Stage(key, c.withinObjectLimit(fn))
	if err != nil {
		if cfe := (*ClockFencedError)(nil); errors.As(err, &cfe) {
			cfe.Replicas = pl.replicas // nothing was stamped: another replica may take it
		}
		return c.failedReceipt(level, pl, true), err
	}

	var targets []string
	for _, id := range pl.replicas {
		if id != c.cfg.NodeID {
			targets = append(targets, id)
		}
	}
	targets = append(targets, pl.pending...)
	results := make(chan writeResult, len(targets)+1)
	var hints atomic.Int64
	for _, id := range targets {
		t.send(id)
		// The write goes on after the answer: its context is detached from
		// the caller's, with a timeout of its own, and owned by c.
		started := c.goBackground(func(bg context.Context) {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ReplicaTimeout)
			defer cancel()
			stop := context.AfterFunc(bg, cancel) // node shutdown cuts it short
			defer stop()
			_, err := c.transport.Apply(wctx, id, key, obj, false)
			own := err != nil && c.ownClockRefused(id, err)
			switch {
			case err == nil:
			case own:
				// Our clock runs ahead: no hint (it would be retried
				// until the replica's clock caught up), and we are fenced.
				c.logLimit.Log(wctx, c.cfg.Logger, slog.LevelWarn, "clock refused "+id, "a replica refused this node's timestamp: clock fenced",
					"replica", id, "key", fmt.Sprintf("%q", key), "err", err)
			case c.addHint(id, key, obj):
				hints.Add(1)
			}
			results <- writeResult{id: id, err: err, ownClock: own}
		})
		if !started { // closed: the write is not sent, and leaves a hint
			if c.addHint(id, key, obj) {
				hints.Add(1)
			}
			results <- writeResult{id: id, err: errClosed}
		}
	}
	// Started last, the local wait runs first once this goroutine blocks
	// (the scheduler runs the newest goroutine next): with a store whose
	// Stage is already durable, the acknowledgement comes at once.
	t.send(c.cfg.NodeID)
	c.awaitLocal(ctx, key, wait, results)

	actx, cancel := c.answerBy(ctx)
	defer cancel()
	var clockRefused []string
	// The answer waits for the coordinator's own outcome (one local
	// fsync, in parallel with the replica writes) as well as for the level:
	// a read through the coordinator then sees what it acknowledged, and a
	// failed write's receipt says whether it applied here.
	localDone := false
	for !localDone || (!t.met() && t.possible()) {
		select {
		case r := <-results:
			localDone = localDone || r.local
			if r.ownClock {
				clockRefused = append(clockRefused, r.id)
			}
			switch {
			case r.err != nil && r.local:
				// Its log write or fsync failed: the copy may or may not
				// hold the write after a restart.
				t.fail(r.id, "local write not durable: "+r.err.Error(), true)
			case r.err != nil:
				t.fail(r.id, reason(r.err), indeterminate(r.err))
			default:
				t.ack(r.id)
			}
		case <-actx.Done():
			// Answer with what is known. A write that failed names the
			// replicas it waited for; those stay in flight and may apply.
			t.expire()
			return c.writeAnswer(t, level, &hints, clockRefused)
		}
	}
	return c.writeAnswer(t, level, &hints, clockRefused)
}

// writeAnswer is the outcome of a write. A write a replica refused for
// clock offset is not acknowledged, even with the level met: its stamp is
// beyond that replica's clock, and the copies holding it are indeterminate.
func (c *Coordinator) writeAnswer(t *tally, level Level, hints *atomic.Int64, clockRefused []string) (Receipt, error) {
	r := t.receipt(c.cfg.NodeID, level, true)
	r.HintsWritten = int(hints.Load())
	switch {
	case len(clockRefused) > 0:
		return r, fmt.Errorf("%w: %v refused the write's timestamp as beyond its clock + --max-clock-offset; not acknowledged: %w",
			ErrClockFenced, clockRefused, &QuorumError{Write: true, Receipt: r})
	case !t.met():
		return r, &QuorumError{Write: true, Receipt: r}
	}
	return r, nil
}

// addHint stores a hint for a replica that missed obj, unless it has been
// down longer than the hint window; it reports whether a hint was written.
func (c *Coordinator) addHint(target string, key []byte, obj *conflict.Object) bool {
	if c.cfg.TestNoHints || c.beyondHintWindow(target) {
		return false
	}
	size := int64(len(key)) + int64(obj.PayloadBytes())
	if !c.hintBytes.admit(c, target, size) {
		return false
	}
	err := c.hints.AddHint(target, key, obj, c.cfg.Clock.Now())
	c.hintBytes.stored(target, size)
	if err != nil {
		c.hintBytes.release(target, size)
		c.cfg.Logger.Error("store hint", "target", target, "err", err)
		return false
	}
	c.hintCount.written.Add(1)
	return true
}

// beyondHintWindow reports whether target has been down longer than the
// hint window: it gets no hints, and its old ones are dropped (anti-entropy
// repairs it).
func (c *Coordinator) beyondHintWindow(target string) bool {
	if c.cfg.DownSince == nil {
		return false
	}
	since, down := c.cfg.DownSince(target)
	return down && c.cfg.Clock.Now().Sub(since) > c.cfg.MaxHintWindow
}

// withinObjectLimit refuses, through fn's error, a write that would leave
// the object above the object limit and larger than it was: nothing is
// written. A write that shrinks an object already over the limit (one
// stored before the limit was lowered) goes through.
func (c *Coordinator) withinObjectLimit(fn func(cur *conflict.Object) (*conflict.Object, error)) func(cur *conflict.Object) (*conflict.Object, error) {
	return func(cur *conflict.Object) (*conflict.Object, error) {
		o, err := fn(cur)
		if err != nil {
			return nil, err
		}
		size := o.PayloadBytes()
		if cur != nil && size <= cur.PayloadBytes() {
			return o, nil
		}
		if err := c.cfg.Limits.CheckObject(size); err != nil {
			return nil, invalidArgument{err}
		}
		return o, nil
	}
}
