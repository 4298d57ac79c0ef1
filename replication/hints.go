package replication

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// hintBatch is how many hints one delivery round sends a target at most.
const hintBatch = 256

// HintStats counts hinted handoff since the coordinator started.
type HintStats struct {
	Written, Delivered, Dropped uint64
	// ClockRefused counts the hints dropped, among Dropped, because their
	// target refused them for clock offset.
	ClockRefused uint64
}

type hintCounters struct {
	written, delivered, dropped, clockRefused atomic.Uint64
}

// HintStats returns the hint counters, for metrics.
func (c *Coordinator) HintStats() HintStats {
	return HintStats{Written: c.hintCount.written.Load(), Delivered: c.hintCount.delivered.Load(), Dropped: c.hintCount.dropped.Load(),
		ClockRefused: c.hintCount.clockRefused.Load()}
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

// deliverTo sends target its hints, oldest first, until it has none or one
// fails.
func (c *Coordinator) deliverTo(ctx context.Context, target string) {
	for ctx.Err() == nil {
		hs, err := c.hints.Hints(target, hintBatch)
		if err != nil {
			c.cfg.Logger.Error("read hints", "target", target, "err", err)
			return
		}
		if len(hs) == 0 {
			return
		}
		for _, h := range hs {
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
				c.hintCount.dropped.Add(1)
				c.hintCount.clockRefused.Add(1)
				c.cfg.Logger.Warn("dropped a hint its target refused for clock offset", "target", target, "key", fmt.Sprintf("%q", h.Key), "err", err)
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
			c.hintCount.delivered.Add(1)
		}
		if len(hs) < hintBatch {
			return
		}
	}
}
