package replication

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/storage"
)

// readResult is what one replica answered.
type readResult struct {
	id  string
	obj *conflict.Object // nil: the replica holds nothing
	err error
}

// readOutcome is a coordinated read: the merge of what R replicas hold.
type readOutcome struct {
	obj     *conflict.Object // nil when no replica holds anything
	tally   *tally
	repair  bool // read repair ran
	receipt Receipt
}

// readLocal reads the coordinator's own copy; nil when absent.
func (c *Coordinator) readLocal(key []byte) (*conflict.Object, error) {
	o, err := c.store.Get(key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return o, err
}

// readPeer reads a peer's copy and moves the clock past it; a copy stamped
// beyond the clock offset is refused.
func (c *Coordinator) readPeer(ctx context.Context, id string, key []byte) (*conflict.Object, error) {
	o, found, err := c.transport.Read(ctx, id, key)
	if err != nil || !found {
		return nil, err
	}
	if err := c.clock.Update(o.MaxTimestamp()); err != nil {
		return nil, err
	}
	return o, nil
}

// readQuorum asks R replicas of key (itself first, another when one fails
// or is slow), merges what they hold and, for QUORUM and ALL, answers only
// once R replicas hold an object at least as new as the merge (blocking read
// repair). A ONE read reads one replica; with probability ReadRepairChance
// the others are then checked and repaired in the background.
func (c *Coordinator) readQuorum(ctx context.Context, key []byte, level Level, pl placement) (readOutcome, error) {
	need := level.Required(len(pl.replicas))
	t := newTally(pl.replicas, need)
	key = bytes.Clone(key) // reads and repairs may outlive the call
	out := readOutcome{tally: t}
	answers := map[string]*conflict.Object{}

	local, err := c.readLocal(key)
	if err != nil {
		return out, err
	}
	answers[c.cfg.NodeID] = local
	t.ack(c.cfg.NodeID)

	order := make([]string, 0, len(pl.replicas))
	for _, id := range pl.replicas {
		if id != c.cfg.NodeID {
			order = append(order, id)
		}
	}
	actx, cancel := c.answerBy(ctx)
	defer cancel()
	results := make(chan readResult, len(order))
	next, inflight := 0, 0
	launch := func() bool {
		if next == len(order) {
			return false
		}
		id := order[next]
		next++
		inflight++
		t.send(id)
		if !c.goBackground(func(context.Context) {
			o, err := c.readPeer(actx, id, key)
			results <- readResult{id: id, obj: o, err: err}
		}) {
			results <- readResult{id: id, err: errClosed}
		}
		return true
	}
	// Ask as many as the level still needs; another only when one fails or
	// is slow.
	for inflight < need-len(answers) && launch() {
	}
	spec := time.NewTimer(c.cfg.SpeculativeDelay)
	defer spec.Stop()
wait:
	for len(answers) < need && inflight > 0 {
		select {
		case r := <-results:
			inflight--
			if r.err != nil {
				t.fail(r.id, reason(r.err), false)
				launch()
				continue
			}
			t.ack(r.id)
			answers[r.id] = r.obj
		case <-spec.C:
			// A replica is slow: ask one more rather than wait.
			launch()
			spec.Reset(c.cfg.SpeculativeDelay)
		case <-actx.Done():
			t.expire()
			break wait
		}
	}
	if len(answers) < need {
		out.receipt = t.receipt(c.cfg.NodeID, level, false)
		return out, &QuorumError{Receipt: out.receipt}
	}

	p := c.cluster.Load().Policy
	for _, o := range answers {
		switch {
		case o == nil:
		case out.obj == nil:
			out.obj = o
		default:
			out.obj = conflict.Merge(p, out.obj, o)
		}
	}
	if level == One || c.cfg.TestNoBlockingRepair {
		if c.cfg.TestNoBlockingRepair || c.cfg.Rand() < c.cfg.ReadRepairChance {
			c.repairInBackground(ctx, key, pl, out.obj)
		}
		out.receipt = t.receipt(c.cfg.NodeID, level, false)
		return out, nil
	}
	err = c.repairBlocking(actx, key, pl, need, answers, &out)
	out.receipt = t.receipt(c.cfg.NodeID, level, false)
	out.receipt.ReadRepair = out.repair
	var qe *QuorumError
	if errors.As(err, &qe) {
		qe.Receipt = out.receipt
	}
	return out, err
}

// sameObject reports whether a replica's copy equals the merged answer.
func sameObject(a, b *conflict.Object, bEnc []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return bytes.Equal(a.Marshal(), bEnc)
}

// applyTo makes replica id hold at least obj: the coordinator's own store,
// or a peer through the transport.
func (c *Coordinator) applyTo(ctx context.Context, id string, key []byte, obj *conflict.Object) error {
	if id == c.cfg.NodeID {
		_, err := c.store.Merge(key, obj)
		return err
	}
	_, err := c.transport.Apply(ctx, id, key, obj, false)
	return err
}

// repairBlocking brings the answer to need replicas before the read is
// answered: replicas whose copy equals the answer count; stale ones that
// answered are sent the answer, and then replicas not asked yet, until need
// hold it. If that cannot be reached the read fails with Unavailable.
func (c *Coordinator) repairBlocking(ctx context.Context, key []byte, pl placement, need int,
	answers map[string]*conflict.Object, out *readOutcome) error {
	if out.obj == nil {
		return nil // no replica that answered holds anything: all agree
	}
	enc := out.obj.Marshal()
	holding := 0
	var stale, unasked []string
	for _, id := range pl.replicas {
		a, answered := answers[id]
		switch {
		case answered && sameObject(a, out.obj, enc):
			holding++
		case answered:
			stale = append(stale, id)
		default:
			unasked = append(unasked, id)
		}
	}
	if holding >= need {
		return nil
	}
	out.repair = true
	candidates := append(stale, unasked...)
	results := make(chan readResult, len(candidates))
	sent := 0
	send := func() {
		id := candidates[sent]
		sent++
		if !c.goBackground(func(context.Context) {
			results <- readResult{id: id, err: c.applyTo(ctx, id, key, out.obj)}
		}) {
			results <- readResult{id: id, err: errClosed}
		}
	}
	// Repair every stale replica that answered; replicas not asked are
	// asked only when those are not enough.
	for sent < len(stale) {
		send()
	}
	for sent < len(candidates) && holding+sent < need {
		send()
	}
	done := 0
	var failed []ReplicaFailure
	for holding < need && done < sent {
		select {
		case r := <-results:
			done++
			if r.err != nil {
				failed = append(failed, ReplicaFailure{ID: r.id, Reason: "read repair: " + reason(r.err)})
				if sent < len(candidates) {
					send()
				}
				continue
			}
			holding++
			c.repairCount.blocking.Add(1)
		case <-ctx.Done():
			done = sent
		}
	}
	out.tally.failed = append(out.tally.failed, failed...)
	if holding >= need {
		return nil
	}
	return &QuorumError{Repair: true, Holding: holding}
}

// repairInBackground reads the replicas a ONE read did not ask and brings
// every replica to the merge of all copies, after the client was answered.
func (c *Coordinator) repairInBackground(ctx context.Context, key []byte, pl placement, seen *conflict.Object) {
	if len(pl.replicas) < 2 {
		return
	}
	c.goBackground(func(bg context.Context) {
		rctx, cancel := context.WithTimeout(bg, c.cfg.ReplicaTimeout)
		defer cancel()
		copies := map[string]*conflict.Object{}
		merged := seen
		p := c.cluster.Load().Policy
		for _, id := range pl.replicas {
			var o *conflict.Object
			var err error
			if id == c.cfg.NodeID {
				o, err = c.readLocal(key)
			} else {
				o, err = c.readPeer(rctx, id, key)
			}
			if err != nil {
				continue
			}
			copies[id] = o
			if o != nil {
				if merged == nil {
					merged = o
				} else {
					merged = conflict.Merge(p, merged, o)
				}
			}
		}
		if merged == nil {
			return
		}
		enc := merged.Marshal()
		for id, o := range copies {
			if !sameObject(o, merged, enc) {
				if err := c.applyTo(rctx, id, key, merged); err != nil {
					c.cfg.Logger.Debug("background read repair", "replica", id, "err", err)
				} else {
					c.repairCount.background.Add(1)
				}
			}
		}
	})
}
