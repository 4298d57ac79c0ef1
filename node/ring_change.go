package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/keyspace"
)

// Ring changes that take a node out: kvctl remove (a dead node) and kvctl
// leave (the node itself).

// errBelowReplicationFactor: the change would leave fewer normal members
// than the replication factor, and was not forced.
var errBelowReplicationFactor = errors.New("fewer normal nodes than the replication factor would remain")

// leftAnnounceTimeout bounds how long a node that has left waits for its
// left entry to be gossiped before it stops.
const leftAnnounceTimeout = 10 * time.Second

// leftLinger is how long a node that has left keeps answering (it reports
// ring state left) before it stops, so kvctl leave --wait can see it.
const leftLinger = 2 * time.Second

// normalOthers counts the normal members other than id.
func normalOthers(m *cluster.Membership, id string) int {
	k := 0
	for _, s := range m.Members() {
		if s.ID != id && s.State == ring.Normal {
			k++
		}
	}
	return k
}

// checkReplicationFactor refuses, unless force, a change after which fewer
// than N members other than id would be normal.
func checkReplicationFactor(m *cluster.Membership, id string, force bool) error {
	s, ok := m.Settings()
	if !ok || force {
		return nil
	}
	if k := normalOthers(m, id); k < s.ReplicationFactor {
		return fmt.Errorf("%w: taking %s out leaves %d normal nodes, fewer than the replication factor %d: use --force to do it anyway",
			errBelowReplicationFactor, id, k, s.ReplicationFactor)
	}
	return nil
}

// removeMember marks the dead member id removed (kvctl remove): its
// partitions go to the remaining members, which fill them from the other
// replicas (fillGained).
func (n *node) removeMember(id string, force bool) error {
	m := n.members.Load()
	if m == nil || !m.Joined() {
		return cluster.ErrNotJoined
	}
	if id == n.cfg.NodeID {
		return fmt.Errorf("%w (%s answered): to decommission it, run kvctl leave on it", cluster.ErrRemoveSelf, id)
	}
	if s, ok := m.Member(id); ok && s.State != ring.Removed {
		if s.Liveness != cluster.LivenessDead {
			return fmt.Errorf("%w: %s is %s; only a dead node can be removed: to decommission a live node, run kvctl leave on it",
				cluster.ErrMemberAlive, id, s.Liveness)
		}
		if err := checkReplicationFactor(m, id, force); err != nil {
			return err
		}
	}
	if err := m.Remove(id); err != nil {
		if errors.Is(err, cluster.ErrMemberAlive) {
			return fmt.Errorf("%w: to decommission a live node, run kvctl leave on it", err)
		}
		return err
	}
	n.log.Info("removed a member from the ring", "id", id, "forced", force)
	return nil
}

// startLeave makes this node leaving (kvctl leave): leaveWhenLeaving then
// hands its partitions over, makes it left and stops it. Asking again
// while it leaves is a no-op.
func (n *node) startLeave(force bool) error {
	m := n.members.Load()
	if m == nil || !m.Joined() {
		return cluster.ErrNotJoined
	}
	switch m.Self().State {
	case ring.Leaving, ring.Left:
		return nil
	case ring.Normal:
	default:
		return fmt.Errorf("%w: %s is %s; only a normal node can leave", cluster.ErrIllegalTransition, n.cfg.NodeID, m.Self().State)
	}
	if err := checkReplicationFactor(m, n.cfg.NodeID, force); err != nil {
		return err
	}
	if err := m.SetState(ring.Leaving); err != nil {
		return err
	}
	n.log.Info("leaving the cluster: handing every partition over to its new replicas", "forced", force)
	return nil
}

// leaveWhenLeaving runs for the node's life: once the node is leaving, it
// sends every partition it replicates to the members it moves to (a full
// anti-entropy pass with each, which pushes every object they lack),
// retrying until every one is done, then makes the node left, waits for
// that to be gossiped, makes a last pass with the same members (for the
// writes it took meanwhile) and closes n.left: serve stops the node. Meanwhile
// the node keeps serving and every write goes to the old and the new
// replicas of its partition.
func (n *node) leaveWhenLeaving(ctx context.Context) {
	sent := map[string]map[keyspace.Partition]bool{} // target -> partitions handed over
	n.everyJoinedTick(ctx, func(m *cluster.Membership) bool {
		switch m.Self().State {
		case ring.Leaving:
		case ring.Left:
			n.finishLeave(ctx, m, nil) // left in an earlier run: nothing to hand over
			return true
		default:
			return false
		}
		r := m.Ring().Load()
		if r == nil || !n.handOffOnce(ctx, m, r, sent) || ctx.Err() != nil {
			return false // retry on the next tick
		}
		if err := m.SetState(ring.Left); err != nil {
			n.log.Error("become left after handing partitions over", "err", err)
			return false
		}
		n.log.Info("handed every partition over; now left")
		n.finishLeave(ctx, m, r)
		return true
	})
}

// moveBatch is how many partitions one anti-entropy pass of a move (a
// fill or a hand-off) carries: progress is reported, and a move
// interrupted resumes, batch by batch.
const moveBatch = 32

// handOffOnce sends the partitions not handed over yet to their pending
// replicas, grouped by target, moveBatch at a time; it reports whether
// every one is done. A hand-off interrupted (a failed pass, a restart)
// resumes where it stopped: the Merkle roots of what was handed over
// compare equal, so only what was not, and writes since, are sent again.
func (n *node) handOffOnce(ctx context.Context, m *cluster.Membership, r *ring.Ring, sent map[string]map[keyspace.Partition]bool) bool {
	live := liveMembers(m)
	byTarget := map[string][]keyspace.Partition{}
	down := map[string]bool{}
	complete := true
	progress := func(bytes int64) {
		total, done := handOffProgress(r, n.cfg.NodeID, sent)
		n.moves.set(true, total, done, bytes, time.Now())
	}
	defer progress(0)
	for _, p := range r.PartitionsOf(n.cfg.NodeID) {
		part := keyspace.Partition(p)
		for _, id := range r.Pending(p) {
			switch {
			case sent[id][part]:
			case !live[id]:
				complete = false // wait for it
				down[id] = true
			default:
				byTarget[id] = append(byTarget[id], part)
			}
		}
	}
	if len(down) == 0 {
		n.handOffWaitSaid = nil
	} else {
		ids := slices.Sorted(maps.Keys(down))
		level := slog.LevelInfo
		if slices.Equal(ids, n.handOffWaitSaid) {
			level = slog.LevelDebug
		}
		n.handOffWaitSaid = ids
		n.log.Log(ctx, level, "waiting for new replicas that are not alive to hand partitions over to them", "replicas", ids)
	}
	for _, id := range slices.Sorted(maps.Keys(byTarget)) {
		for batch := range slices.Chunk(byTarget[id], moveBatch) {
			round, err := n.ae.FillFrom(ctx, id, batch)
			if err == nil && round.PartitionsCompared < len(batch) {
				// The target left out partitions it does not yet see
				// moving to it (it has not heard that this node leaves).
				err = fmt.Errorf("%s compared %d of %d partitions: its ring does not show them moving to it yet", id, round.PartitionsCompared, len(batch))
			}
			if err != nil {
				n.log.Warn("handing partitions over failed; will retry", "target", id, "partitions", len(batch), "err", err)
				complete = false
				break
			}
			if sent[id] == nil {
				sent[id] = map[keyspace.Partition]bool{}
			}
			for _, p := range batch {
				sent[id][p] = true
			}
			progress(round.BytesExchanged)
			n.log.Info("handed partitions over", "target", id, "partitions", len(batch), "keys", round.KeysPushed, "bytes", round.BytesExchanged)
		}
	}
	return complete
}

// handOffProgress counts the partitions id hands over on r (those with a
// pending replica) and those handed over to every pending replica.
func handOffProgress(r *ring.Ring, id string, sent map[string]map[keyspace.Partition]bool) (total, done int) {
	for _, p := range r.PartitionsOf(id) {
		pend := r.Pending(p)
		if len(pend) == 0 {
			continue
		}
		total++
		if !slices.ContainsFunc(pend, func(t string) bool { return !sent[t][keyspace.Partition(p)] }) {
			done++
		}
	}
	return total, done
}

// finishLeave waits, within leftAnnounceTimeout, until the left entry has
// been gossiped; then, if the node handed the partitions of ring leaving
// over, it makes a last pass with their new replicas, which hands over
// the writes this node acknowledged after its first pass (the others no
// longer send it any). A last pass that does not complete within
// leftAnnounceTimeout is given up: those new replicas fill themselves
// from the other replicas (fillGained). It keeps answering for leftLinger,
// then closes n.left.
func (n *node) finishLeave(ctx context.Context, m *cluster.Membership, leaving *ring.Ring) {
	if !n.awaitAnnounced(ctx, m) {
		return
	}
	if leaving != nil {
		n.lastHandOff(ctx, m, leaving)
	}
	linger := time.NewTimer(leftLinger)
	defer linger.Stop()
	select {
	case <-ctx.Done():
		return
	case <-linger.C:
	}
	n.leftOnce.Do(func() { close(n.left) })
}

// lastHandOff hands the partitions of ring leaving over once more,
// retrying within leftAnnounceTimeout.
func (n *node) lastHandOff(ctx context.Context, m *cluster.Membership, leaving *ring.Ring) {
	sent := map[string]map[keyspace.Partition]bool{}
	deadline := time.NewTimer(leftAnnounceTimeout)
	defer deadline.Stop()
	t := time.NewTicker(fillCheckInterval)
	defer t.Stop()
	for !n.handOffOnce(ctx, m, leaving, sent) {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			n.log.Warn("the last hand-off did not complete; the new replicas fill from the other replicas")
			return
		case <-t.C:
		}
	}
	n.log.Info("last hand-off done")
}

// awaitAnnounced waits until m has no table change left to gossip, or
// leftAnnounceTimeout has passed; it reports false if ctx ended first.
func (n *node) awaitAnnounced(ctx context.Context, m *cluster.Membership) bool {
	deadline := time.NewTimer(leftAnnounceTimeout)
	defer deadline.Stop()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for m.Announcing() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			n.log.Warn("the left entry is still being gossiped; stopping anyway")
			return true
		case <-t.C:
		}
	}
	return true
}

// fillGained runs for the node's life: when a normal node becomes a current
// replica of partitions it was not a replica of (a member was removed, or
// one that left handed them over), it fills them with a full anti-entropy
// pass with every other live current replica, so the new copy holds the
// data at once rather than after the next periodic round. Partitions a
// joining node will replicate are filled by fillWhileJoining instead.
func (n *node) fillGained(ctx context.Context) {
	var held map[keyspace.Partition]bool // nil until the first ring
	var last *ring.Ring
	replicated := func(r *ring.Ring) map[keyspace.Partition]bool {
		ps := map[keyspace.Partition]bool{}
		for _, p := range slices.Concat(r.PartitionsOf(n.cfg.NodeID), r.FuturePartitionsOf(n.cfg.NodeID)) {
			ps[keyspace.Partition(p)] = true
		}
		return ps
	}
	n.everyJoinedTick(ctx, func(m *cluster.Membership) bool {
		r := m.Ring().Load()
		switch {
		case r == nil:
			return false
		case held == nil || m.Self().State != ring.Normal:
			// Start from what the node holds or is being filled with.
			held, last = replicated(r), r
			return false
		}
		// A partition dropped is held no more, whatever the rings seen.
		dropped := n.dropped.take()
		for p := range dropped {
			delete(held, p)
		}
		if r == last && len(dropped) == 0 {
			return false
		}
		// Forget the partitions the node no longer replicates: gaining
		// one back later fills it again.
		keep := replicated(r)
		maps.DeleteFunc(held, func(p keyspace.Partition, _ bool) bool { return !keep[p] })
		if n.fillGainedOnce(ctx, m, r, held) {
			last = r
		}
		return false
	})
}

// fillGainedOnce fills the current partitions of r not in held from every
// other live current replica, and adds those filled to held. It reports
// whether every one is filled.
func (n *node) fillGainedOnce(ctx context.Context, m *cluster.Membership, r *ring.Ring, held map[keyspace.Partition]bool) bool {
	live := liveMembers(m)
	bySource := map[string][]keyspace.Partition{}
	failed := map[keyspace.Partition]bool{}
	var gained []keyspace.Partition
	for _, p := range r.PartitionsOf(n.cfg.NodeID) {
		part := keyspace.Partition(p)
		if held[part] {
			continue
		}
		gained = append(gained, part)
		sourced := false
		for _, id := range r.Replicas(p) {
			if id != n.cfg.NodeID && live[id] {
				bySource[id] = append(bySource[id], part)
				sourced = true
			}
		}
		if !sourced && len(r.Replicas(p)) > 1 {
			failed[part] = true // every other replica is down: wait
		}
	}
	if len(gained) == 0 {
		return true
	}
	filled := 0
	for _, src := range slices.Sorted(maps.Keys(bySource)) {
		parts := bySource[src]
		for i, batch := range slices.Collect(slices.Chunk(parts, moveBatch)) {
			round, err := n.ae.FillFrom(ctx, src, batch)
			if err != nil {
				n.log.Warn("filling partitions this node now replicates failed; will retry", "source", src, "partitions", len(batch), "err", err)
				for _, p := range parts[i*moveBatch:] {
					failed[p] = true
				}
				break
			}
			filled += len(batch)
			n.moves.set(false, len(gained), min(filled, len(gained)), round.BytesExchanged, time.Now())
			n.log.Info("filled partitions this node now replicates", "source", src, "partitions", len(batch), "keys", round.KeysFetched, "bytes", round.BytesExchanged)
		}
	}
	complete := true
	for _, p := range gained {
		if failed[p] {
			complete = false
			continue
		}
		held[p] = true
	}
	if complete {
		n.moves.clear()
	}
	return complete
}

// liveMembers returns the ids memberlist considers alive.
func liveMembers(m *cluster.Membership) map[string]bool {
	live := map[string]bool{}
	for _, s := range m.Members() {
		if s.Liveness == cluster.LivenessAlive {
			live[s.ID] = true
		}
	}
	return live
}

// replaceFlagErr returns the refusal of --replace that err reports (a
// *cluster.ReplaceError) as a flag error, or nil when err is another one.
func replaceFlagErr(err error) error {
	var re *cluster.ReplaceError
	if !errors.As(err, &re) {
		return nil
	}
	return flagErr("replace", "%s", re.Error())
}
