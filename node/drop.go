package node

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication/antientropy"
	"github.com/quorumkv/quorumkv/storage"
)

// The hand-off drop (DESIGN.md, Joining): a node that holds data of
// partitions it no longer replicates (another node joined and took them,
// or any other ring change) drops them, but only after every alive member
// has acknowledged a ring without it as a write target of them and a last
// anti-entropy exchange with each of their current replicas found no live
// object to hand over (attempt says which differences do not count). The
// drop is one record in the commit log per partition, honoured by replay.
// Hints stay: they are for other nodes.

// dropRetryTicks is how many ticks of everyJoinedTick a drop that could
// not complete waits before it is tried again (unless the ring changes).
const dropRetryTicks = 4

// dropper decides and makes the drops of one node. Its collaborators are
// functions so that the decision is tested without a network; newDropper
// wires the node's.
type dropper struct {
	self string
	log  *slog.Logger
	// roots returns the Merkle roots of parts (storage.Engine.MerkleRoots).
	roots func(parts []keyspace.Partition) ([][storage.HashSize]byte, error)
	// ack asks member which of parts its ring still makes this node a
	// write target of (Replica.HandOffAck).
	ack func(ctx context.Context, member string, parts []keyspace.Partition) (targeted []keyspace.Partition, err error)
	// exchange runs one anti-entropy exchange, both ways, with peer over
	// parts (AntiEntropy.FillFrom).
	exchange func(ctx context.Context, peer string, parts []keyspace.Partition) (antientropy.Round, error)
	// drop drops partitions (storage.Engine.DropPartitions).
	drop func(ps []keyspace.Partition) error
	// still reports whether the drops decided on ring r may be made: the
	// ring has not changed and the node is still normal.
	still func(r *ring.Ring) bool
	// dropped is called with the count of partitions dropped (metrics).
	dropped func(n int)

	// said holds, by kind, the conditions that hold the drop back and
	// that the last attempts logged; seen those the attempt under way met.
	// A condition is logged when it appears or changes, at debug level
	// while it lasts (a member or replica down for hours would otherwise
	// log every few seconds). Only attempt's goroutine uses them.
	said, seen map[string]string
}

// waitingOn logs msg (with args) at level when the condition kind is
// new or its value changed since the last attempts, at debug otherwise.
func (d *dropper) waitingOn(ctx context.Context, kind, value string, level slog.Level, msg string, args ...any) {
	if d.seen == nil {
		d.seen = map[string]string{}
	}
	d.seen[kind] = value
	if old, ok := d.said[kind]; ok && old == value {
		level = slog.LevelDebug
	}
	d.log.Log(ctx, level, msg, args...)
}

// endAttempt forgets the conditions the attempt did not meet: they are
// logged again if they come back.
func (d *dropper) endAttempt() {
	d.said, d.seen = d.seen, nil
}

// dropResult is what one attempt did.
type dropResult struct {
	// Held counts the partitions this node holds data of but does not
	// replicate, moving ones excepted.
	Held int
	// Dropped counts those dropped.
	Dropped int
	// Complete is true when nothing is left to drop on this ring.
	Complete bool
}

// candidates returns the partitions of r this node is no write target of
// and that are not moving (no pending replica), ascending.
func (d *dropper) candidates(r *ring.Ring) []keyspace.Partition {
	var out []keyspace.Partition
	for p := range r.Q() {
		if len(r.Pending(p)) == 0 && !slices.Contains(r.WriteTargets(p), d.self) {
			out = append(out, keyspace.Partition(p))
		}
	}
	return out
}

// attempt drops what it may on ring r, whose members are members: the
// partitions this node holds data of (a non-zero Merkle root) but is no
// write target of, that every alive member (left and removed ones aside)
// acknowledged, and that an exchange with each of their current replicas
// found no live object to push. Two differences do not count: the
// replica's newer objects, which the exchange fetches (it runs both ways),
// or a steady stream of writes to the new replicas would hold the drop
// back for ever; and tombstones pushed, which the replica merged durably
// or, lacking the key, refused as past its grace period (it refuses them
// on every exchange, and this node does not purge partitions it does not
// replicate). An unreachable member or replica, a member that still lists
// this node, or an exchange that had to push a live object leaves the
// partition for a later attempt.
func (d *dropper) attempt(ctx context.Context, r *ring.Ring, members []cluster.MemberStatus) dropResult {
	defer d.endAttempt()
	cands := d.candidates(r)
	if len(cands) == 0 {
		return dropResult{Complete: true}
	}
	roots, err := d.roots(cands)
	if err != nil {
		d.log.Warn("hand-off drop: cannot read the Merkle roots; will retry", "err", err)
		return dropResult{}
	}
	var held []keyspace.Partition
	for i, p := range cands {
		if roots[i] != ([storage.HashSize]byte{}) {
			held = append(held, p)
		}
	}
	res := dropResult{Held: len(held)}
	if len(held) == 0 {
		res.Complete = true
		return res
	}
	acked, ok := d.acknowledged(ctx, members, held)
	if !ok {
		return res
	}
	synced := d.synced(ctx, r, members, acked)
	if len(synced) == 0 {
		return res
	}
	for batch := range slices.Chunk(synced, dropBatch) {
		if ctx.Err() != nil || !d.still(r) {
			break // stopping, or the ring changed: the next attempt decides again
		}
		if err := d.drop(batch); err != nil {
			d.log.Error("hand-off drop: dropping partitions failed; will retry", "partitions", batch, "err", err)
			break
		}
		res.Dropped += len(batch)
	}
	if res.Dropped > 0 {
		d.dropped(res.Dropped)
	}
	res.Complete = res.Dropped == len(held)
	d.log.Info("dropped partitions this node no longer replicates", "partitions", res.Dropped, "held", len(held),
		"waiting", len(held)-res.Dropped)
	return res
}

// dropBatch is how many partitions one storage drop takes: writes wait
// for each drop's flush, once per batch rather than once per partition.
const dropBatch = 64

// askable returns the members whose acknowledgement a drop needs: every
// alive member but this node that is not left or removed.
func (d *dropper) askable(members []cluster.MemberStatus) []string {
	var out []string
	for _, m := range members {
		if m.ID != d.self && m.Liveness == cluster.LivenessAlive && m.State != ring.Left && m.State != ring.Removed {
			out = append(out, m.ID)
		}
	}
	return out
}

// acknowledged asks every askable member about parts, in parallel, and
// returns those no member lists this node as a write target of; ok is
// false when a member did not answer (then nothing may be dropped).
func (d *dropper) acknowledged(ctx context.Context, members []cluster.MemberStatus, parts []keyspace.Partition) (_ []keyspace.Partition, ok bool) {
	ids := d.askable(members)
	targeted := make([][]keyspace.Partition, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			targeted[i], errs[i] = d.ack(ctx, id, parts)
		}()
	}
	wg.Wait()
	still := map[keyspace.Partition]bool{}
	var listing []string
	for i, id := range ids {
		if errs[i] != nil {
			d.waitingOn(ctx, "ack", id, slog.LevelWarn, "hand-off drop: a member did not acknowledge; will retry", "member", id, "partitions", len(parts), "err", errs[i])
			return nil, false
		}
		for _, p := range targeted[i] {
			still[p] = true
		}
		if len(targeted[i]) > 0 {
			listing = append(listing, id)
		}
	}
	if len(still) > 0 {
		d.waitingOn(ctx, "listed", fmt.Sprint(listing), slog.LevelInfo, "hand-off drop: members still list this node as a write target; will retry",
			"partitions", len(still), "members", listing)
	}
	return slices.DeleteFunc(slices.Clone(parts), func(p keyspace.Partition) bool { return still[p] }), true
}

// synced runs the last exchange of parts with each of their current
// replicas on r and returns those every exchange compared and found no
// live object to push for.
func (d *dropper) synced(ctx context.Context, r *ring.Ring, members []cluster.MemberStatus, parts []keyspace.Partition) []keyspace.Partition {
	live := map[string]bool{}
	for _, m := range members {
		live[m.ID] = m.Liveness == cluster.LivenessAlive
	}
	failed := map[keyspace.Partition]bool{}
	byReplica := map[string][]keyspace.Partition{}
	down := map[string]bool{}
	for _, p := range parts {
		reps := r.Replicas(int(p))
		if len(reps) == 0 {
			failed[p] = true // nobody to hand it to
		}
		for _, id := range reps {
			if !live[id] {
				failed[p] = true // wait for it
				down[id] = true
				continue
			}
			byReplica[id] = append(byReplica[id], p)
		}
	}
	if len(down) > 0 {
		ids := slices.Sorted(maps.Keys(down))
		d.waitingOn(ctx, "down", fmt.Sprint(ids), slog.LevelInfo, "hand-off drop: waiting for current replicas that are down; will retry", "replicas", ids)
	}
	for _, id := range slices.Sorted(maps.Keys(byReplica)) {
		ps := slices.DeleteFunc(byReplica[id], func(p keyspace.Partition) bool { return failed[p] })
		if len(ps) == 0 {
			continue
		}
		round, err := d.exchange(ctx, id, ps)
		switch {
		case err != nil:
		case round.PartitionsCompared < len(ps):
			err = fmt.Errorf("it compared %d of %d partitions: its ring does not make it a replica of them", round.PartitionsCompared, len(ps))
		case round.KeysPushed > round.TombstonesPushed:
			err = fmt.Errorf("it lacked %d live objects, now pushed", round.KeysPushed-round.TombstonesPushed)
		}
		if err != nil {
			d.log.Info("hand-off drop: the last exchange found a difference or failed; will retry", "replica", id, "partitions", len(ps), "err", err)
			for _, p := range ps {
				failed[p] = true
			}
		}
	}
	return slices.DeleteFunc(slices.Clone(parts), func(p keyspace.Partition) bool { return failed[p] })
}

// newDropper wires the dropper of n.
func (n *node) newDropper() *dropper {
	return &dropper{
		self:     n.cfg.NodeID,
		log:      n.log,
		roots:    n.store.MerkleRoots,
		ack:      n.askHandOffAck,
		exchange: n.ae.FillFrom,
		drop: func(ps []keyspace.Partition) error {
			err := n.store.DropPartitions(ps...)
			n.dropped.add(ps) // also on error: some may be gone
			return err
		},
		still: func(r *ring.Ring) bool {
			m := n.members.Load()
			return m != nil && m.Self().State == ring.Normal && r.Equal(m.Ring().Load())
		},
		dropped: func(k int) { n.metrics.partitionsDropped.Add(float64(k)) },
	}
}

// dropHandedOff runs for the node's life: while the node is normal (not
// joining or leaving), it drops the partitions it holds data of but no
// longer replicates (dropper.attempt), from its first ring on (which
// covers what it held at startup) and again after every ring change; an
// attempt that left some retries every dropRetryTicks ticks.
func (n *node) dropHandedOff(ctx context.Context) {
	d := n.newDropper()
	var last *ring.Ring
	complete, wait := false, 0
	n.everyJoinedTick(ctx, func(m *cluster.Membership) bool {
		r := m.Ring().Load()
		if r == nil || m.Self().State != ring.Normal {
			return false
		}
		switch {
		case !r.Equal(last): // a new ring, or the first: try at once
		case complete:
			return false
		case wait > 0:
			wait--
			return false
		}
		res := d.attempt(ctx, r, m.Members())
		last, complete, wait = r, res.Complete, dropRetryTicks
		return false
	})
}

// droppedParts is the set of partitions dropped since fillGained last
// took it. A ring change between the dropper's last check and its drop,
// or rings changing faster than fillGained looks, could otherwise leave a
// partition the node replicates again counted as held while it is empty.
type droppedParts struct {
	mu    sync.Mutex
	parts map[keyspace.Partition]bool
}

func (d *droppedParts) add(ps []keyspace.Partition) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.parts == nil {
		d.parts = map[keyspace.Partition]bool{}
	}
	for _, p := range ps {
		d.parts[p] = true
	}
}

// take returns the set and empties it.
func (d *droppedParts) take() map[keyspace.Partition]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ps := d.parts
	d.parts = nil
	return ps
}
