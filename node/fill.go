package node

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/keyspace"
)

// fillCheckInterval is how often the node checks whether it is joining and
// retries a fill that failed.
const fillCheckInterval = 500 * time.Millisecond

// fillWhileJoining runs for the node's life: whenever the node is joining
// (a new node, or a known id back with an empty data dir), it is filled by
// a full anti-entropy pass over every partition it will replicate, each
// with a live current replica of the partition, and then becomes normal.
// It serves no reads meanwhile (it is not a current replica) and receives
// every write as a pending replica, so nothing written during the fill is
// missed. Partitions filled stay filled across failed attempts.
func (n *node) fillWhileJoining(ctx context.Context) {
	filled := map[keyspace.Partition]bool{}
	n.everyJoinedTick(ctx, func(m *cluster.Membership) bool {
		if m.Self().State != ring.Joining {
			return false
		}
		r := m.Ring().Load()
		if r == nil || !n.fillOnce(ctx, m, r, filled) || ctx.Err() != nil {
			return false // retry on the next tick
		}
		if err := m.SetState(ring.Normal); err != nil {
			n.log.Error("become normal after filling", "err", err)
			return false
		}
		n.moves.clear()
		n.log.Info("filled every partition this node replicates; now normal", "partitions", len(filled))
		return false
	})
}

// everyJoinedTick calls fn with the member table every fillCheckInterval
// once the node has joined, until ctx ends or fn reports it is done.
func (n *node) everyJoinedTick(ctx context.Context, fn func(m *cluster.Membership) (done bool)) {
	t := time.NewTicker(fillCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if m := n.members.Load(); m != nil && m.Joined() && fn(m) {
			return
		}
	}
}

// fillOnce fills the partitions not filled yet, grouped by the live current
// replica each is taken from; it reports whether every one is filled.
func (n *node) fillOnce(ctx context.Context, m *cluster.Membership, r *ring.Ring, filled map[keyspace.Partition]bool) bool {
	live := map[string]bool{}
	for _, s := range m.Members() {
		if s.Liveness == cluster.LivenessAlive {
			live[s.ID] = true
		}
	}
	bySource := map[string][]keyspace.Partition{}
	complete := true
	future := r.FuturePartitionsOf(n.cfg.NodeID)
	progress := func(bytes int64) {
		done := 0
		for _, p := range future {
			if filled[keyspace.Partition(p)] {
				done++
			}
		}
		n.moves.set(false, len(future), done, bytes, time.Now())
	}
	defer progress(0)
	for _, p := range future {
		part := keyspace.Partition(p)
		if filled[part] {
			continue
		}
		src := ""
		for _, id := range r.Replicas(p) {
			if id != n.cfg.NodeID && live[id] {
				src = id
				break
			}
		}
		switch {
		case len(r.Replicas(p)) == 0:
			filled[part] = true // no replica holds it yet: nothing to copy
		case src == "":
			complete = false // every current replica is down: wait
		default:
			bySource[src] = append(bySource[src], part)
		}
	}
	for _, src := range slices.Sorted(maps.Keys(bySource)) {
		for batch := range slices.Chunk(bySource[src], moveBatch) {
			round, err := n.ae.FillFrom(ctx, src, batch)
			if err != nil {
				n.log.Warn("fill by anti-entropy failed; will retry", "source", src, "partitions", len(batch), "err", err)
				complete = false
				break
			}
			for _, p := range batch {
				filled[p] = true
			}
			progress(round.BytesExchanged)
			n.log.Info("filled partitions by anti-entropy", "source", src, "partitions", len(batch), "keys", round.KeysFetched, "bytes", round.BytesExchanged)
			if n.cfg.afterMoveBatch != nil {
				n.cfg.afterMoveBatch()
			}
		}
	}
	return complete
}
