package antientropy

import (
	"sync/atomic"
	"time"
)

// Stats counts the anti-entropy rounds (periodic, on demand and joining
// fills) since the AntiEntropy was created, and what they did.
type Stats struct {
	// RoundsOK and RoundsFailed count the rounds that reached a peer's
	// client, by outcome.
	RoundsOK, RoundsFailed uint64
	// PartitionsCompared, KeysExchanged and BytesExchanged sum Round's
	// fields over every round, failed ones included (what they did).
	PartitionsCompared, KeysExchanged, BytesExchanged uint64
	// OversizedSkipped is OversizedSkipped.
	OversizedSkipped uint64
}

type roundCounters struct {
	ok, failed, partitions, keys, bytes atomic.Uint64
}

// add counts round r, failed when err is not nil.
func (c *roundCounters) add(r Round, err error) {
	if err != nil {
		c.failed.Add(1)
	} else {
		c.ok.Add(1)
	}
	c.partitions.Add(uint64(r.PartitionsCompared))
	c.keys.Add(uint64(r.KeysExchanged))
	c.bytes.Add(uint64(max(r.BytesExchanged, 0)))
}

// Stats returns the round counters, for metrics.
func (a *AntiEntropy) Stats() Stats {
	return Stats{
		RoundsOK: a.rounds.ok.Load(), RoundsFailed: a.rounds.failed.Load(),
		PartitionsCompared: a.rounds.partitions.Load(), KeysExchanged: a.rounds.keys.Load(),
		BytesExchanged: a.rounds.bytes.Load(), OversizedSkipped: a.oversized.Load(),
	}
}

// Started returns when the AntiEntropy was created (by its Clock): the
// reference of a peer's lag before its first round.
func (a *AntiEntropy) Started() time.Time { return a.started }
