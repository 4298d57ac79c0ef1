package replication

import "sync/atomic"

// RepairStats counts read repair since the coordinator started: replica
// copies brought up to date by a QUORUM or ALL read before it answered
// (Blocking) and after a ONE read answered (Background).
type RepairStats struct {
	Blocking, Background uint64
}

type repairCounters struct {
	blocking, background atomic.Uint64
}

// RepairStats returns the read repair counters, for metrics.
func (c *Coordinator) RepairStats() RepairStats {
	return RepairStats{Blocking: c.repairCount.blocking.Load(), Background: c.repairCount.background.Load()}
}
