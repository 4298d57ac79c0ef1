package antientropy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
)

// Purge defaults.
const (
	// DefaultGrace is DESIGN.md's default --tombstone-grace.
	DefaultGrace       = 24 * time.Hour
	defaultPeerTimeout = 10 * time.Second
)

// PurgeConfig holds the tombstone purger's settings.
type PurgeConfig struct {
	// NodeID is this node's id on the ring. Required.
	NodeID string
	// Grace is how old a tombstone must be before it may be purged
	// (--tombstone-grace). Required, positive: zero is refused.
	Grace time.Duration
	// Interval is how often a sweep runs. Zero means Grace/24, at least 1s.
	Interval time.Duration
	// PeerTimeout bounds each confirmation call. Zero means 10s.
	PeerTimeout time.Duration
	// Clock tells the age of tombstones. Nil means the real clock.
	Clock replication.Clock
	// Logger receives the purger's log lines; nil discards them.
	Logger *slog.Logger
}

// DefaultPurgeConfig returns a configuration with every default set;
// NodeID is left to the caller.
func DefaultPurgeConfig() PurgeConfig {
	return PurgeConfig{Grace: DefaultGrace, Interval: DefaultGrace / 24, PeerTimeout: defaultPeerTimeout}
}

// Validate reports the first unusable setting.
func (c PurgeConfig) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("purger: node id is empty")
	case c.Grace <= 0:
		return fmt.Errorf("purger: grace is %s: must be positive", c.Grace)
	case c.Interval < 0:
		return fmt.Errorf("purger: interval is %s: must not be negative", c.Interval)
	case c.PeerTimeout < 0:
		return fmt.Errorf("purger: peer timeout is %s: must not be negative", c.PeerTimeout)
	}
	return nil
}

func (c PurgeConfig) withDefaults() PurgeConfig {
	if c.Interval == 0 {
		c.Interval = max(c.Grace/24, time.Second)
	}
	if c.PeerTimeout == 0 {
		c.PeerTimeout = defaultPeerTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Purger removes tombstones once no replica needs them. A tombstone is
// purged when it is older than the grace period, its partition is not
// moving, and every other member that may hold the partition (every
// joining, normal or leaving member, not only its current replicas: see
// holders) confirms, when asked, that it holds the identical tombstone or
// nothing at all for the key. A member that cannot be reached confirms
// nothing, so a node that was down, even one whose partitions moved away
// meanwhile, keeps the tombstones it has not seen from being purged until
// it is back and anti-entropy has given them to it (or it is removed): a
// node down past the grace period returns without resurrecting anything. Together with GraceStore,
// which drops a tombstone older than the grace period for a key the replica
// does not hold, a purged key never comes back.
type Purger struct {
	cfg    PurgeConfig
	store  PurgeStore
	ring   replication.RingView
	dial   PeerDialer
	purged atomic.Uint64 // see Purged
}

// Purged returns how many tombstones the purger has removed since it was
// created, for metrics.
func (p *Purger) Purged() uint64 { return p.purged.Load() }

// purgeBatch is how many candidate keys one confirmation call carries.
const purgeBatch = 256

// NewPurger returns a purger over the local store; dial gives clients of
// the other replicas' Replica services, for confirmations. Nothing starts
// until Run.
func NewPurger(cfg PurgeConfig, store PurgeStore, rv replication.RingView, dial PeerDialer) (*Purger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || rv == nil || dial == nil {
		return nil, errors.New("purger: store, ring and dialer are required")
	}
	return &Purger{cfg: cfg.withDefaults(), store: store, ring: rv, dial: dial}, nil
}

// Run sweeps every interval until ctx is done. It blocks: the caller runs
// it in a goroutine it owns and stops it by canceling ctx.
func (p *Purger) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := p.Sweep(ctx); err != nil {
				p.cfg.Logger.Warn("tombstone purge sweep", "purged", n, "err", err)
			} else if n > 0 {
				p.cfg.Logger.Info("purged tombstones", "count", n)
			}
		}
	}
}

// candidate is a tombstone old enough to purge, with its encoding.
type candidate struct {
	key, enc []byte
}

// Sweep runs one purge pass over every partition this node replicates and
// returns how many tombstones it purged.
func (p *Purger) Sweep(ctx context.Context) (int, error) {
	r := p.ring.Load()
	if r == nil || p.store.Stats().Tombstones == 0 {
		return 0, nil
	}
	cutoff := p.cfg.Clock.Now().Add(-p.cfg.Grace).UnixNano()
	purged := 0
	var firstErr error
	for _, part := range r.PartitionsOf(p.cfg.NodeID) {
		if len(r.Pending(part)) > 0 {
			continue // moving: its new replicas may not hold the tombstones yet
		}
		var cands []candidate
		err := p.store.Scan(keyspace.Partition(part), nil, func(key []byte, obj *conflict.Object) bool {
			if !obj.Live() && obj.MaxTimestamp().Wall < cutoff {
				cands = append(cands, candidate{key: append([]byte(nil), key...), enc: obj.Marshal()})
			}
			return ctx.Err() == nil
		})
		if err != nil {
			return purged, err
		}
		peers := holders(r, p.cfg.NodeID)
		for len(cands) > 0 && ctx.Err() == nil {
			batch := cands[:min(purgeBatch, len(cands))]
			cands = cands[len(batch):]
			confirmed, err := p.confirm(ctx, peers, batch)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			for _, c := range confirmed {
				ok, err := p.store.Purge(c.key, c.enc)
				if err != nil {
					return purged, err
				}
				if ok {
					purged++
					p.purged.Add(1)
				}
			}
		}
	}
	return purged, firstErr
}

// holders returns every member other than self that may hold a copy of
// any partition: each member of r that is joining, normal or leaving,
// whether or not it replicates the partition today. A tombstone is purged
// only once every node that held its partition since it was written
// confirms; a node that stopped replicating the partition either dropped
// it after handing it over (it holds nothing, and confirms) or still holds
// it (a node that was down while the partition moved away), and must not
// be able to give a deleted value back to the new holders after the purge.
// Left and removed members hold nothing the cluster reads again: a left
// node rejoins only with an empty data dir, a removed id never does.
func holders(r *ring.Ring, self string) []string {
	var ids []string
	for _, m := range r.Members() {
		if m.ID == self {
			continue
		}
		switch m.State {
		case ring.Joining, ring.Normal, ring.Leaving:
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// confirm returns the candidates every peer holds identically or not at
// all. Any peer that does not answer confirms nothing.
func (p *Purger) confirm(ctx context.Context, peers []string, batch []candidate) ([]candidate, error) {
	ok := make([]bool, len(batch))
	for i := range ok {
		ok[i] = true
	}
	keys := make([][]byte, len(batch))
	for i, c := range batch {
		keys[i] = c.key
	}
	for _, id := range peers {
		cl, err := p.dial.ReplicaClient(id)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, p.cfg.PeerTimeout)
		resp, err := cl.FetchObjects(cctx, &pb.FetchObjectsRequest{Keys: keys})
		cancel()
		if err != nil {
			return nil, err
		}
		held := make(map[string][]byte, len(resp.Objects))
		for _, ko := range resp.Objects {
			held[string(ko.Key)] = ko.Object
		}
		for i, c := range batch {
			if enc, has := held[string(c.key)]; has && string(enc) != string(c.enc) {
				ok[i] = false // the peer holds something else: not yet in sync
			}
		}
	}
	var out []candidate
	for i, c := range batch {
		if ok[i] {
			out = append(out, c)
		}
	}
	return out, nil
}
