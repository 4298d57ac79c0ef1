package replication

// Anti-entropy (DESIGN.md, "Anti-entropy"): every interval, and on demand,
// a node compares the Merkle trees of the partitions it shares with each
// peer and merges the keys that differ both ways. The server side, the
// MerkleService, answers the Merkle RPCs of the Replica service; the client
// side, AntiEntropy, runs rounds. This file holds their contracts: the
// interfaces they consume, the configuration and the result of a round.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// MerkleStore is the part of the local store the MerkleService reads.
// storage.Engine implements it. Every method may be called concurrently by
// any number of RPC handlers, reads the last committed state without
// waiting for writes, and returns results the caller owns. Out-of-range
// arguments fail with an error matching storage.ErrInvalidArgument.
type MerkleStore interface {
	// MerkleRoots returns the root of each partition's tree, in the order of
	// parts.
	MerkleRoots(parts []keyspace.Partition) ([][storage.HashSize]byte, error)
	// MerkleNodes returns nodes of one level of p's tree, in the order of
	// indexes (nil: the whole level).
	MerkleNodes(p keyspace.Partition, level int, indexes []int) ([][storage.HashSize]byte, error)
	// LeafEntries returns the keys under one leaf of p's tree with their
	// entry hashes, in storage-key order.
	LeafEntries(p keyspace.Partition, leaf int) ([]storage.KeyHash, error)
	// Get returns the object under key, or an error matching
	// storage.ErrNotFound.
	Get(key []byte) (*conflict.Object, error)
}

// AntiEntropyStore is the local store as a round uses it: its Merkle trees
// and objects, and Merge to take in a peer's objects. storage.Engine
// implements it. Merge blocks until the merged object is durable and may be
// called concurrently (concurrent merges share a group commit).
type AntiEntropyStore interface {
	MerkleStore
	// Merge merges obj into the copy of key durably and returns the stored
	// result, which the caller owns; obj is not kept.
	Merge(key []byte, obj *conflict.Object) (*conflict.Object, error)
}

// Pusher sends a local object to a peer, which merges it into its copy
// durably and returns its merged object. Transport implements it; a round
// pushes through it so pushes share the batched replica streams. It is
// called concurrently, blocks until the peer answers or ctx is done, and
// neither changes nor keeps key and obj.
type Pusher interface {
	Apply(ctx context.Context, peer string, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error)
}

// PeerDialer returns a client of peer's Replica service, for the Merkle and
// FetchObjects RPCs. It is called at the start of every round with that
// peer, must not block on the network (gRPC connects lazily) and fails when
// the peer is unknown. The dialer's owner owns the connection.
type PeerDialer func(peer string) (pb.ReplicaClient, error)

// Anti-entropy defaults.
const (
	DefaultAntiEntropyInterval = time.Minute
	DefaultMaxKeysPerSecond    = 10000
	DefaultMaxBytesPerSecond   = 32 << 20
	defaultPeerParallelism     = 4
	defaultPartParallelism     = 16
	defaultAntiEntropyRPC      = 30 * time.Second
)

// AntiEntropyConfig holds the settings of an AntiEntropy.
type AntiEntropyConfig struct {
	// NodeID is this node's id on the ring. Required.
	NodeID string
	// Interval is the time between two rounds of Run. Zero means
	// DefaultAntiEntropyInterval.
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
	// Now is the clock of round times and of the rate limits; nil means
	// time.Now.
	Now func() time.Time
}

// DefaultAntiEntropyConfig returns a configuration with every default set;
// NodeID is left to the caller.
func DefaultAntiEntropyConfig() AntiEntropyConfig {
	return AntiEntropyConfig{
		Interval:             DefaultAntiEntropyInterval,
		MaxKeysPerSecond:     DefaultMaxKeysPerSecond,
		MaxBytesPerSecond:    DefaultMaxBytesPerSecond,
		PeerParallelism:      defaultPeerParallelism,
		PartitionParallelism: defaultPartParallelism,
		RPCTimeout:           defaultAntiEntropyRPC,
	}
}

// Validate reports the first unusable setting.
func (c AntiEntropyConfig) Validate() error {
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

func (c AntiEntropyConfig) withDefaults() AntiEntropyConfig {
	d := DefaultAntiEntropyConfig()
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
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

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

// ErrAntiEntropyClosed is returned by rounds started after Close.
var ErrAntiEntropyClosed = errors.New("anti-entropy closed")
