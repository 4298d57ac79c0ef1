package node

import (
	"context"
	"time"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
)

// fillCheckInterval is how often the node checks whether it is joining and
// retries a fill that failed.
const fillCheckInterval = 500 * time.Millisecond

// fillWhileJoining runs for the node's life: whenever the node is joining,
// it pulls every partition it will replicate from a current replica (bulk
// copy over StreamPartition), and then becomes normal. Writes reach it
// meanwhile as a pending replica, so nothing written during the fill is
// missed. Progress per partition survives a failed attempt.
func (n *node) fillWhileJoining(ctx context.Context) {
	filled := map[keyspace.Partition]bool{}
	after := map[keyspace.Partition][]byte{}
	t := time.NewTicker(fillCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m := n.members.Load()
		if m == nil || !m.Joined() || m.Self().State != ring.Joining {
			continue
		}
		r := m.Ring().Load()
		if r == nil {
			continue
		}
		done := true
		for _, p := range r.FuturePartitionsOf(n.cfg.NodeID) {
			part := keyspace.Partition(p)
			if filled[part] {
				continue
			}
			if !n.fillPartition(ctx, m, r, part, after) {
				done = false
				break // retry on the next tick
			}
			filled[part] = true
		}
		if !done || ctx.Err() != nil {
			continue
		}
		if err := m.SetState(ring.Normal); err != nil {
			n.log.Error("become normal after filling", "err", err)
			continue
		}
		n.log.Info("filled every partition this node replicates; now normal", "partitions", len(filled))
	}
}

// fillPartition copies partition p from the first live current replica
// that is not this node; it reports success.
func (n *node) fillPartition(ctx context.Context, m *cluster.Membership, r *ring.Ring, p keyspace.Partition,
	after map[keyspace.Partition][]byte) bool {
	sources := r.Replicas(int(p))
	if len(sources) == 0 {
		return true // no replica holds it yet: nothing to copy
	}
	live := map[string]string{}
	for _, s := range m.Members() {
		if s.Liveness == cluster.LivenessAlive {
			live[s.ID] = s.GRPCAddr
		}
	}
	for _, src := range sources {
		addr, ok := live[src]
		if src == n.cfg.NodeID || !ok {
			continue
		}
		conn, err := n.peers.get(addr)
		if err != nil {
			continue
		}
		res, err := replication.FillPartition(ctx, pb.NewReplicaClient(conn), n.fromPeers, p, after[p], n.clock.Update)
		after[p] = res.After
		if err != nil {
			n.log.Warn("fill partition failed; will retry", "partition", p, "source", src, "objects", res.Objects, "err", err)
			continue
		}
		n.log.Debug("filled partition", "partition", p, "source", src, "objects", res.Objects)
		return true
	}
	return false
}
