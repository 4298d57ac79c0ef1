package antientropy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/internal/lograte"
	"github.com/quorumkv/quorumkv/replication"
)

// AntiEntropy runs the anti-entropy rounds of one node: periodically (Run),
// on demand (RepairNow, RoundAll) or with one peer (RoundWith). Rounds share
// one rate limit. Every goroutine it starts is stopped and waited for by
// Close. Safe for concurrent use.
type AntiEntropy struct {
	cfg     Config
	store   Store
	ring    replication.RingView
	dial    PeerDialer
	observe func(conflict.Timestamp) error
	push    Pusher
	limiter *throttle

	bg     context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// oversized counts the keys a round skipped because the peer could
	// not send the object in one response (see OversizedSkipped).
	oversized atomic.Uint64
	rounds    roundCounters    // see Stats
	logLimit  *lograte.Limiter // repeated lines about a peer
	started   time.Time

	mu     sync.Mutex
	closed bool
	last   map[string]Round
	busy   map[string]chan struct{} // per peer: held by its running round
}

// New returns the anti-entropy of the node cfg.NodeID over its store and
// ring. dial gives clients of peers' Replica services; observe, if
// not nil, is called with the largest timestamp of every object received
// before it is merged (the node advances its clock; an error refuses the
// object); push sends local objects to peers. Nothing starts until Run,
// RepairNow or a round is called.
func New(cfg Config, store Store, rv replication.RingView, dial PeerDialer,
	observe func(conflict.Timestamp) error, push Pusher) (*AntiEntropy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || rv == nil || dial == nil || push == nil {
		return nil, errors.New("anti-entropy: store, ring, dialer and pusher are required")
	}
	cfg = cfg.withDefaults()
	bg, cancel := context.WithCancel(context.Background())
	return &AntiEntropy{
		cfg: cfg, store: store, ring: rv, dial: dial, observe: observe, push: push,
		limiter: newThrottle(cfg.MaxKeysPerSecond, cfg.MaxBytesPerSecond, cfg.Clock.Now),
		bg:      bg, cancel: cancel, started: cfg.Clock.Now(), logLimit: lograte.New(lograte.DefaultInterval, cfg.Clock.Now),
		last: map[string]Round{}, busy: map[string]chan struct{}{},
	}, nil
}

// OversizedSkipped returns how many times a round skipped a key whose
// object the peer could not send in one response; the rest of its
// partition was still exchanged.
func (a *AntiEntropy) OversizedSkipped() uint64 { return a.oversized.Load() }

// Close stops Run and every round in flight (they fail with a context
// error) and returns once their goroutines have exited. Later rounds fail
// with ErrClosed. It is idempotent.
func (a *AntiEntropy) Close() error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	return nil
}

// begin registers work that Close waits for and returns ctx, also
// canceled by Close, and the function ending the work.
func (a *AntiEntropy) begin(ctx context.Context) (context.Context, func(), error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, nil, ErrClosed
	}
	a.wg.Add(1)
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(a.bg, cancel)
	return ctx, func() {
		stop()
		cancel()
		a.wg.Done()
	}, nil
}

// lockPeer waits until no other round runs with peer.
func (a *AntiEntropy) lockPeer(ctx context.Context, peer string) (func(), error) {
	a.mu.Lock()
	ch, ok := a.busy[peer]
	if !ok {
		ch = make(chan struct{}, 1)
		a.busy[peer] = ch
	}
	a.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *AntiEntropy) record(r Round) {
	a.mu.Lock()
	a.last[r.Peer] = r
	a.mu.Unlock()
}

// Last returns the last successful round with each peer that currently
// shares a partition with this node (as of the last RoundAll), sorted by
// peer; empty before the first round. The caller owns the slice.
func (a *AntiEntropy) Last() []Round {
	a.mu.Lock()
	out := make([]Round, 0, len(a.last))
	for _, r := range a.last {
		out = append(out, r)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y Round) int { return cmp.Compare(x.Peer, y.Peer) })
	return out
}

// Peers returns the nodes that share at least one partition with this
// node on the current ring (both current replicas), sorted; nil before the
// ring is known.
func (a *AntiEntropy) Peers() []string {
	r := a.ring.Load()
	if r == nil {
		return nil
	}
	set := map[string]bool{}
	for _, p := range r.PartitionsOf(a.cfg.NodeID) {
		for _, id := range r.Replicas(p) {
			if id != a.cfg.NodeID {
				set[id] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// RoundAll runs a round with every peer (Peers), PeerParallelism at once,
// and returns when all are done: the rounds that succeeded, and a
// *RoundError for each peer whose round failed. Last forgets peers that no
// longer share a partition.
func (a *AntiEntropy) RoundAll(ctx context.Context) ([]Round, []error) {
	peers := a.Peers()
	rounds, errs := a.roundAll(ctx, peers)
	a.mu.Lock()
	for p := range a.last {
		if !slices.Contains(peers, p) {
			delete(a.last, p)
		}
	}
	a.mu.Unlock()
	return rounds, errs
}

func (a *AntiEntropy) roundAll(ctx context.Context, peers []string) ([]Round, []error) {
	var (
		mu      sync.Mutex
		rounds  []Round
		errs    []error
		started = make([]bool, len(peers))
	)
	forEach(ctx, len(peers), a.cfg.PeerParallelism, func(i int) {
		started[i] = true
		r, err := a.RoundWith(ctx, peers[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			a.logLimit.Log(ctx, a.cfg.Logger, slog.LevelWarn, "round "+peers[i], "anti-entropy round failed", "peer", peers[i], "keys_exchanged", r.KeysExchanged, "err", err)
			return
		}
		rounds = append(rounds, r)
		a.cfg.Logger.Debug("anti-entropy round", "peer", r.Peer, "partitions_compared", r.PartitionsCompared,
			"partitions_differing", r.PartitionsDiffering, "keys_exchanged", r.KeysExchanged,
			"bytes_exchanged", r.BytesExchanged, "duration", r.Duration)
	})
	for i, p := range peers {
		if !started[i] { // ctx ended first
			errs = append(errs, &RoundError{Peer: p, Err: ctx.Err()})
		}
	}
	return rounds, errs
}

// Run runs RoundAll every Interval until ctx is done or Close is called,
// and returns once its round in flight has stopped. The node calls it
// once, in a goroutine it owns.
func (a *AntiEntropy) Run(ctx context.Context) {
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return
	}
	defer done()
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.RoundAll(ctx)
	}
}

// RepairNow starts a round with every peer now (kvctl repair). Without
// wait it returns the peers at once, the rounds running in the background
// (owned by the AntiEntropy, stopped by Close). With wait it returns when
// every round has finished or ctx is done, listing in failed the peers
// whose round failed (unreachable, refused, cut short) with the reason.
// err is ErrClosed after Close, or wraps replication.ErrNotJoined before the
// ring is known.
func (a *AntiEntropy) RepairNow(ctx context.Context, wait bool) (peers []string, failed []replication.ReplicaFailure, err error) {
	if a.ring.Load() == nil {
		return nil, nil, fmt.Errorf("anti-entropy: %w: no ring yet", replication.ErrNotJoined)
	}
	peers = a.Peers()
	if !wait {
		// The rounds outlive this call: detached from ctx, stopped by Close.
		bgCtx, done, err := a.begin(context.WithoutCancel(ctx))
		if err != nil {
			return nil, nil, err
		}
		go func() {
			defer done()
			a.RoundAll(bgCtx)
		}()
		return peers, nil, nil
	}
	ctx, done, err := a.begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	_, errs := a.roundAll(ctx, peers)
	for _, e := range errs {
		var re *RoundError
		if errors.As(e, &re) {
			failed = append(failed, replication.ReplicaFailure{ID: re.Peer, Reason: re.Err.Error()})
		}
	}
	slices.SortFunc(failed, func(x, y replication.ReplicaFailure) int { return cmp.Compare(x.ID, y.ID) })
	return peers, failed, nil
}
