package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/quorumkv/quorumkv/storage"
)

// metaLastRunning names the record of when the node last ran: the wall
// time in Unix nanoseconds, rewritten every runningRecordInterval while it
// runs and as it stops. On start it tells how long the node was down: a
// node down longer than --tombstone-grace may have missed tombstones that
// are purged by now, and rejoins only with an empty data dir (the cluster
// package refuses it).
const metaLastRunning = "last_running"

// runningRecordInterval is how often the running record is rewritten for
// grace: a quarter of it, between 1s and 1m. The downtime a start measures
// exceeds the real one by at most this much.
func runningRecordInterval(grace time.Duration) time.Duration {
	return min(max(grace/4, time.Second), time.Minute)
}

// lastRunning reads the running record; zero when there is none (a new
// data dir, or one written before the record existed).
func lastRunning(eng *storage.Engine) (time.Time, error) {
	v, ok, err := eng.Meta(metaLastRunning)
	switch {
	case err != nil:
		return time.Time{}, fmt.Errorf("read the running record: %w", err)
	case !ok:
		return time.Time{}, nil
	case len(v) != 8:
		return time.Time{}, fmt.Errorf("read the running record: %d bytes, want 8", len(v))
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), nil
}

// recordRunning records now as the time the node last ran.
func recordRunning(eng *storage.Engine, now time.Time) error {
	return eng.PutMeta(metaLastRunning, binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())))
}

// keepRunningRecord records that the node runs now and every
// runningRecordInterval until ctx ends, and marks the record for the last
// rewrite as storage closes. It runs only once the node serves: a start
// refused for its downtime must not renew the record.
func (n *node) keepRunningRecord(ctx context.Context) {
	n.recordsRunning.Store(true)
	t := time.NewTicker(runningRecordInterval(n.cfg.TombstoneGrace))
	defer t.Stop()
	for {
		if err := recordRunning(n.store, time.Now()); err != nil {
			n.log.Warn("record that the node runs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
