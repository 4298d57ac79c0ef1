package antientropy

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication"
)

// Anti-entropy defaults.
const (
	DefaultInterval          = time.Minute
	DefaultMaxKeysPerSecond  = 10000
	DefaultMaxBytesPerSecond = 32 << 20
	defaultPeerParallelism   = 4
	defaultPartParallelism   = 16
	defaultRPCTimeout        = 30 * time.Second
)

// Config holds the settings of an AntiEntropy.
type Config struct {
	// NodeID is this node's id on the ring. Required.
	NodeID string
	// Interval is the time between two rounds of Run. Zero means
	// DefaultInterval.
	Interval time.Duration
	// MaxKeysPerSecond bounds the objects fetched plus pushed per second,
	// over every round of this AntiEntropy together, so a large repair does
	// not starve requests. Zero means DefaultMaxKeysPerSecond; negative
	// means no bound.
	MaxKeysPerSecond int
	// MaxBytesPerSecond bounds the bytes of leaf entries and objects
	// exchanged per second, over every round together. Zero means
	// DefaultMaxBytesPerSecond; negative means no bound.
	MaxBytesPerSecond int
	// PeerParallelism bounds the peers a RoundAll works with at once. Zero
	// means 4.
	PeerParallelism int
	// PartitionParallelism bounds the differing partitions one round
	// repairs at once. Zero means 16.
	PartitionParallelism int
	// RPCTimeout bounds each RPC to a peer and each push. Zero means 30s.
	RPCTimeout time.Duration
	// OnPartitionInSync, if set, is called when a round found partition p
	// equal on this node and peer, or made it equal (both roots re-read after
	// the repair). at is a time before both roots were read: everything this
	// node held at at, the peer held too when its root was read. It is
	// called from the round's goroutines, concurrently, and must not block
	// for long. Nil: nobody is told.
	OnPartitionInSync func(peer string, p keyspace.Partition, at time.Time)
	// Logger receives round summaries (debug) and failures (warn); nil
	// discards them.
	Logger *slog.Logger
	// OnRound, when set, is given every round that reached its peer's
	// client (periodic, on demand and joining fills) when it ends, with its
	// error (nil on success), for the round duration histogram; the counts
	// are in Stats. It is called on the round's goroutine and must not
	// block. Nil means none.
	OnRound func(r Round, err error)
	// Clock is the clock of round times (and of OnPartitionInSync's at)
	// and of the rate limits. Nil means the real clock.
	Clock replication.Clock
}

// DefaultConfig returns a configuration with every default set;
// NodeID is left to the caller.
func DefaultConfig() Config {
	return Config{
		Interval:             DefaultInterval,
		MaxKeysPerSecond:     DefaultMaxKeysPerSecond,
		MaxBytesPerSecond:    DefaultMaxBytesPerSecond,
		PeerParallelism:      defaultPeerParallelism,
		PartitionParallelism: defaultPartParallelism,
		RPCTimeout:           defaultRPCTimeout,
	}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("anti-entropy: node id is empty")
	case c.Interval < 0:
		return fmt.Errorf("anti-entropy: interval is %s: must not be negative", c.Interval)
	case c.PeerParallelism < 0:
		return fmt.Errorf("anti-entropy: peer parallelism is %d: must not be negative", c.PeerParallelism)
	case c.PartitionParallelism < 0:
		return fmt.Errorf("anti-entropy: partition parallelism is %d: must not be negative", c.PartitionParallelism)
	case c.RPCTimeout < 0:
		return fmt.Errorf("anti-entropy: rpc timeout is %s: must not be negative", c.RPCTimeout)
	}
	return nil
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if c.MaxKeysPerSecond == 0 {
		c.MaxKeysPerSecond = d.MaxKeysPerSecond
	}
	if c.MaxBytesPerSecond == 0 {
		c.MaxBytesPerSecond = d.MaxBytesPerSecond
	}
	if c.PeerParallelism == 0 {
		c.PeerParallelism = d.PeerParallelism
	}
	if c.PartitionParallelism == 0 {
		c.PartitionParallelism = d.PartitionParallelism
	}
	if c.RPCTimeout == 0 {
		c.RPCTimeout = d.RPCTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
