package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// hintBatch is how many hints one delivery round sends a target at most.
const hintBatch = 256

// HintStats counts hinted handoff since the coordinator started.
type HintStats struct {
	Written, Delivered, Dropped uint64
	// Refused counts deliveries the target answered with an error for
	// that hint alone; the hint stays and the others are still sent.
	Refused uint64
	// OverBudget counts hints not written because their target's hints
	// were at the byte budget (Config.MaxHintBytes).
	OverBudget uint64
	// ClockRefused counts the hints dropped, among Dropped, because their
	// target refused them for clock offset.
	ClockRefused uint64
}

type hintCounters struct {
	written, delivered, dropped, refused, overBudget, clockRefused atomic.Uint64
}

// HintStats returns the hint counters, for metrics.
func (c *Coordinator) HintStats() HintStats {
	return HintStats{Written: c.hintCount.written.Load(), Delivered: c.hintCount.delivered.Load(), Dropped: c.hintCount.dropped.Load(),
		Refused: c.hintCount.refused.Load(), OverBudget: c.hintCount.overBudget.Load(), ClockRefused: c.hintCount.clockRefused.Load()}
}

// StartHintDelivery starts the loop that, every interval, delivers the
// hints held for each live member, and drops those of members down longer
// than the hint window (with a log line and a count). The coordinator owns
// the loop: Close stops it.
func (c *Coordinator) StartHintDelivery(interval time.Duration) {
	c.goBackground(func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.DeliverHints(ctx)
			}
		}
	})
}

// DeliverHints runs one delivery round now.
func (c *Coordinator) DeliverHints(ctx context.Context) {
	r := c.ring.Load()
	if r == nil {
		return
	}
	for _, m := range r.Members() {
		if m.ID == c.cfg.NodeID {
			continue
		}
		if c.beyondHintWindow(m.ID) {
			n, err := c.hints.DropHints(m.ID)
			if err != nil {
				c.cfg.Logger.Error("drop hints", "target", m.ID, "err", err)
			} else if n > 0 {
				c.hintBytes.forget(m.ID)
				c.hintCount.dropped.Add(uint64(n))
				c.cfg.Logger.Warn("dropped hints: target down longer than the hint window; anti-entropy will repair it",
					"target", m.ID, "hints", n, "window", c.cfg.MaxHintWindow)
			}
			continue
		}
		if c.cfg.DownSince != nil {
			if _, down := c.cfg.DownSince(m.ID); down {
				continue
			}
		}
		c.deliverTo(ctx, m.ID)
	}
}

// deliverTo sends target its hints in key order until it has none left to
// try. A hint the target refuses (it answered, with an error for that
// object) is left for a later round and the next is sent; a failure to
// reach the target ends the round.
func (c *Coordinator) deliverTo(ctx context.Context, target string) {
	var after []byte
	for ctx.Err() == nil {
		hs, err := c.hints.HintsAfter(target, after, hintBatch)
		if err != nil {
			c.cfg.Logger.Error("read hints", "target", target, "err", err)
			return
		}
		for _, h := range hs {
			after = h.Key
			actx, cancel := context.WithTimeout(ctx, c.cfg.ReplicaTimeout)
			_, err := c.transport.Apply(actx, target, h.Key, h.Object, true)
			cancel()
			if refusedForClock(err) && (c.cfg.Fence == nil || !c.cfg.Fence.PeerBehind(target)) {
				// Stamped beyond the target's clock + max offset by a
				// clock that ran ahead: retried, it would be accepted once
				// the target's clock caught up and override later writes.
				// It is dropped. (A target known to run behind keeps it.)
				if err := c.hints.DeleteHint(h); err != nil {
					c.cfg.Logger.Error("delete hint refused for clock offset", "target", target, "err", err)
					return
				}
				c.hintBytes.release(target, int64(len(h.Key))+int64(h.Object.PayloadBytes()))
				c.hintCount.dropped.Add(1)
				c.hintCount.clockRefused.Add(1)
				c.logLimit.Log(ctx, c.cfg.Logger, slog.LevelWarn, "hint clock refused "+target, "dropped a hint its target refused for clock offset",
					"target", target, "key", fmt.Sprintf("%q", h.Key), "err", err)
				continue
			}
			var re *RemoteError
			if errors.As(err, &re) {
				c.hintCount.refused.Add(1)
				c.logLimit.Log(ctx, c.cfg.Logger, slog.LevelWarn, "hint refused "+target, "hint refused by its target; delivering the others", "target", target, "err", err)
				continue
			}
			if err != nil {
				c.cfg.Logger.Debug("hint delivery failed; will retry", "target", target, "err", err)
				return
			}
			// Deleted only if unchanged: a hint merged in meanwhile stays.
			if err := c.hints.DeleteHint(h); err != nil {
				c.cfg.Logger.Error("delete delivered hint", "target", target, "err", err)
				return
			}
			c.hintBytes.release(target, int64(len(h.Key))+int64(h.Object.PayloadBytes()))
			c.hintCount.delivered.Add(1)
		}
		if len(hs) < hintBatch {
			return
		}
	}
}

// hintBudget keeps, per target, an upper bound of the bytes its hints
// take (keys and payloads), so a write for a target at its budget leaves
// no hint. A target's count starts from storage the first time it is
// needed; adds count in full (a hint merged into an existing one is
// counted again, so the bound only errs high) and delivered hints are
// taken off. At the budget the count is taken from storage again before
// a hint is refused, once: not again until a hint is added or delivered.
// Hints admitted but not yet stored are added to storage's count, so
// concurrent writes cannot each find room in a count that misses the
// others.
type hintBudget struct {
	mu       sync.Mutex
	bytes    map[string]int64
	inFlight map[string]int64 // admitted, not yet stored
	exact    map[string]bool  // bytes is storage's count, unchanged since
	full     map[string]bool  // at the budget: logged once until below
}

// admit reports whether a hint of size bytes for target fits the budget,
// and counts it if so.
func (b *hintBudget) admit(c *Coordinator, target string, size int64) bool {
	if c.cfg.MaxHintBytes < 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bytes == nil {
		b.bytes, b.inFlight = map[string]int64{}, map[string]int64{}
		b.exact, b.full = map[string]bool{}, map[string]bool{}
	}
	n, known := b.bytes[target]
	// Count from storage when the target is new, or at the budget by an
	// estimate: not again while nothing changed since the last count, so a
	// target held at its budget costs no scan per write.
	if !known || (n+size > c.cfg.MaxHintBytes && !b.exact[target]) {
		counted, err := c.hints.HintBytes(target)
		if err != nil {
			c.cfg.Logger.Error("count hint bytes", "target", target, "err", err)
			return false
		}
		n = counted + b.inFlight[target]
		b.exact[target] = true
	}
	if n+size > c.cfg.MaxHintBytes {
		b.bytes[target] = n
		c.hintCount.overBudget.Add(1)
		if !b.full[target] {
			b.full[target] = true
			c.cfg.Logger.Warn("hints for this target are at their byte budget: writes it misses leave no hint until it catches up; anti-entropy will repair it",
				"target", target, "bytes", n, "budget", c.cfg.MaxHintBytes)
		}
		return false
	}
	b.bytes[target] = n + size
	b.inFlight[target] += size
	b.exact[target] = false
	b.full[target] = false
	return true
}

// stored records that an admitted hint of size bytes for target was
// written to storage, or failed to be: it is no longer in flight.
func (b *hintBudget) stored(target string, size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.inFlight[target] - size; n > 0 {
		b.inFlight[target] = n
	} else {
		delete(b.inFlight, target)
	}
}

// release takes size bytes of target's hints off the count.
func (b *hintBudget) release(target string, size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n, ok := b.bytes[target]; ok {
		b.bytes[target] = max(0, n-size)
		b.exact[target] = false
	}
}

// forget drops target's count: its hints were dropped.
func (b *hintBudget) forget(target string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.bytes, target)
	delete(b.exact, target)
}
