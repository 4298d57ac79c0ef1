package antientropy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication"
)

// Round summarizes one anti-entropy round with one peer (the status's
// last_anti_entropy entry).
type Round struct {
	// Peer is the peer's node id.
	Peer string
	// Time is when the round finished.
	Time time.Time
	// Duration is how long the round took.
	Duration time.Duration
	// PartitionsCompared counts the shared partitions whose roots were
	// compared.
	PartitionsCompared int
	// PartitionsDiffering counts those whose roots differed.
	PartitionsDiffering int
	// PartitionsInSync counts the compared partitions found equal, or
	// confirmed equal after their repair (OnPartitionInSync's calls).
	PartitionsInSync int
	// KeysFetched counts the peer's objects merged locally.
	KeysFetched int
	// KeysPushed counts the local objects sent to the peer.
	KeysPushed int
	// TombstonesPushed counts those of them with nothing live. A peer
	// that lacks the key drops one older than its grace period (the grace
	// rule), so an exchange pushes it again every time.
	TombstonesPushed int
	// KeysExchanged is KeysFetched + KeysPushed.
	KeysExchanged int
	// EntriesCompared counts the leaf entries the peer sent.
	EntriesCompared int
	// BytesExchanged counts the bytes of the round's RPC messages both ways
	// (roots, nodes, leaf entries, fetched objects) and of the objects
	// pushed; the replies to pushes and framing are not counted.
	BytesExchanged int64
}

// RoundError is the failure of a round with one peer.
type RoundError struct {
	Peer string
	Err  error
}

func (e *RoundError) Error() string { return "anti-entropy with " + e.Peer + ": " + e.Err.Error() }
func (e *RoundError) Unwrap() error { return e.Err }

// ErrClosed is returned by rounds started after Close.
var ErrClosed = errors.New("anti-entropy closed")

// RoundWith runs one anti-entropy round with peer: it compares the roots of
// every partition the ring makes both this node and peer current replicas
// of, in one MerkleRoots call, descends into the differing ones only (level
// 1, then the leaves under differing level-1 nodes, then the entries of
// differing leaves on both sides), fetches and merges the peer's objects of
// the keys that differ or that only the peer holds, and pushes local
// objects the peer lacks or holds older. Its cost follows the difference,
// not the data. It blocks until done, ctx is done or Close is called; one
// round at a time runs with a given peer (a second waits). It returns what
// was done, also on failure; a round that succeeded becomes Last's entry
// for peer. Errors are *RoundError.
func (a *AntiEntropy) RoundWith(ctx context.Context, peer string) (Round, error) {
	return a.round(ctx, peer, func(r *ring.Ring) []keyspace.Partition { return sharedPartitions(r, a.cfg.NodeID, peer) }, true)
}

// FillFrom runs one full anti-entropy pass with peer over parts, which
// peer replicates (or will: a pending replica answers for them too): a
// joining node's fill, a leaving node's hand-off, the last exchange before
// a node drops partitions it no longer replicates. It brings this node
// every object peer holds in them, and peer every object this node holds
// that peer lacks or holds older. The round is not recorded in Last.
func (a *AntiEntropy) FillFrom(ctx context.Context, peer string, parts []keyspace.Partition) (Round, error) {
	return a.round(ctx, peer, func(*ring.Ring) []keyspace.Partition { return parts }, false)
}

func (a *AntiEntropy) round(ctx context.Context, peer string, partitions func(*ring.Ring) []keyspace.Partition, record bool) (Round, error) {
	fail := func(err error) (Round, error) { return Round{Peer: peer}, &RoundError{Peer: peer, Err: err} }
	if peer == "" || peer == a.cfg.NodeID {
		return fail(fmt.Errorf("%w: %q is not a peer", replication.ErrInvalidArgument, peer))
	}
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer done()
	release, err := a.lockPeer(ctx, peer)
	if err != nil {
		return fail(err)
	}
	defer release()
	r := a.ring.Load()
	if r == nil {
		return fail(fmt.Errorf("%w: no ring yet", replication.ErrNotJoined))
	}
	client, err := a.dial.ReplicaClient(peer)
	if err != nil {
		return fail(fmt.Errorf("dial: %w", err))
	}
	x := &exchange{a: a, peer: peer, client: client}
	start := a.cfg.Clock.Now()
	err = x.run(ctx, partitions(r))
	end := a.cfg.Clock.Now()
	round := x.summary(start, end)
	a.rounds.add(round, err)
	if a.cfg.OnRound != nil {
		a.cfg.OnRound(round, err)
	}
	if err != nil {
		return round, &RoundError{Peer: peer, Err: err}
	}
	if record {
		a.record(round)
	}
	return round, nil
}

// sharedPartitions returns the partitions whose current replicas include
// both self and peer, ascending.
func sharedPartitions(r *ring.Ring, self, peer string) []keyspace.Partition {
	var out []keyspace.Partition
	for _, p := range r.PartitionsOf(self) {
		if r.IsReplica(p, peer) {
			out = append(out, keyspace.Partition(p))
		}
	}
	return out
}
