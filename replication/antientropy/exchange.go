package antientropy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// merkleHash is a Merkle node or entry hash.
type merkleHash = [storage.HashSize]byte

// exchange is one round with one peer: it compares the roots of the
// partitions, has a descent repair each that differs, and confirms them.
// Its counters are updated by the partitions repaired concurrently.
type exchange struct {
	a      *AntiEntropy
	peer   string
	client pb.ReplicaClient

	compared, differing, inSync int // set by run's goroutine only
	fetched, pushed, entries    atomic.Int64
	tombstonesPushed            atomic.Int64
	bytes                       atomic.Int64
}

func (x *exchange) summary(start, end time.Time) Round {
	f, p := int(x.fetched.Load()), int(x.pushed.Load())
	return Round{
		Peer: x.peer, Time: end, Duration: end.Sub(start),
		PartitionsCompared: x.compared, PartitionsDiffering: x.differing, PartitionsInSync: x.inSync,
		KeysFetched: f, KeysPushed: p, KeysExchanged: f + p, TombstonesPushed: int(x.tombstonesPushed.Load()),
		EntriesCompared: int(x.entries.Load()), BytesExchanged: x.bytes.Load(),
	}
}

// run compares the roots of shared, repairs the partitions that differ,
// PartitionParallelism at once, and confirms those repaired.
func (x *exchange) run(ctx context.Context, shared []keyspace.Partition) error {
	if len(shared) == 0 {
		return nil
	}
	differing, err := x.compareRoots(ctx, shared)
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		repaired []keyspace.Partition
		fails    failures
	)
	forEach(ctx, len(differing), x.a.cfg.PartitionParallelism, func(i int) {
		p := differing[i]
		if err := (&descent{x: x, p: p}).repair(ctx); err != nil {
			fails.add(fmt.Errorf("partition %d: %w", p, err))
			return
		}
		mu.Lock()
		repaired = append(repaired, p)
		mu.Unlock()
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(repaired) > 0 {
		slices.Sort(repaired)
		x.confirm(ctx, repaired)
	}
	return fails.err("partitions")
}

// compareRoots reads the roots of shared on both sides, reports the equal
// ones in sync and returns those that differ. Partitions the peer does not
// replicate by its ring are left out of this round.
func (x *exchange) compareRoots(ctx context.Context, shared []keyspace.Partition) ([]keyspace.Partition, error) {
	at := x.a.cfg.Clock.Now()
	local, err := x.a.store.MerkleRoots(shared)
	if err != nil {
		return nil, fmt.Errorf("local merkle roots: %w", err)
	}
	remote, err := x.peerRoots(ctx, shared)
	if err != nil {
		return nil, err
	}
	var differing []keyspace.Partition
	for i, p := range shared {
		h, ok := remote[p]
		if !ok {
			continue // the peer does not replicate p by its ring: not this round
		}
		x.compared++
		if h == local[i] {
			x.synced(p, at)
		} else {
			differing = append(differing, p)
		}
	}
	x.differing = len(differing)
	return differing, nil
}

// confirm re-reads both roots of the repaired partitions and reports those
// now equal.
func (x *exchange) confirm(ctx context.Context, parts []keyspace.Partition) {
	at := x.a.cfg.Clock.Now()
	local, err := x.a.store.MerkleRoots(parts)
	if err == nil {
		var remote map[keyspace.Partition]merkleHash
		if remote, err = x.peerRoots(ctx, parts); err == nil {
			for i, p := range parts {
				if h, ok := remote[p]; ok && h == local[i] {
					x.synced(p, at)
				}
			}
			return
		}
	}
	x.a.logLimit.Log(ctx, x.a.cfg.Logger, slog.LevelWarn, "confirm "+x.peer, "anti-entropy: cannot confirm repaired partitions", "peer", x.peer, "err", err)
}

func (x *exchange) synced(p keyspace.Partition, at time.Time) {
	x.inSync++
	if f := x.a.cfg.OnPartitionInSync; f != nil {
		f(x.peer, p, at)
	}
}

// call makes one RPC to the peer of x within the RPC timeout and counts its
// messages' bytes.
func call[Req, Resp proto.Message](ctx context.Context, x *exchange, req Req,
	f func(context.Context, Req, ...grpc.CallOption) (Resp, error)) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, x.a.cfg.RPCTimeout)
	defer cancel()
	resp, err := f(ctx, req)
	if err != nil {
		return resp, err
	}
	x.bytes.Add(int64(proto.Size(req) + proto.Size(resp)))
	return resp, nil
}

// peerRoots asks the peer for the roots of parts, in one call, and checks
// that it answers only for those, once each.
func (x *exchange) peerRoots(ctx context.Context, parts []keyspace.Partition) (map[keyspace.Partition]merkleHash, error) {
	req := &pb.MerkleRootsRequest{Partitions: make([]uint32, len(parts))}
	asked := make(map[keyspace.Partition]bool, len(parts))
	for i, p := range parts {
		req.Partitions[i] = uint32(p)
		asked[p] = true
	}
	resp, err := call(ctx, x, req, x.client.MerkleRoots)
	if err != nil {
		return nil, fmt.Errorf("merkle roots: %w", err)
	}
	out := make(map[keyspace.Partition]merkleHash, len(resp.GetRoots()))
	for _, r := range resp.GetRoots() {
		p := r.GetPartition()
		if p >= keyspace.Q || !asked[keyspace.Partition(p)] {
			return nil, fmt.Errorf("merkle roots: peer answered for partition %d, which was not asked", p)
		}
		if _, dup := out[keyspace.Partition(p)]; dup {
			return nil, fmt.Errorf("merkle roots: peer answered twice for partition %d", p)
		}
		h, err := toMerkleHash(r.GetHash())
		if err != nil {
			return nil, fmt.Errorf("merkle roots: partition %d: %w", p, err)
		}
		out[keyspace.Partition(p)] = h
	}
	return out, nil
}

func toMerkleHash(b []byte) (merkleHash, error) {
	if len(b) != storage.HashSize {
		return merkleHash{}, fmt.Errorf("peer sent a hash of %d bytes, want %d", len(b), storage.HashSize)
	}
	return merkleHash(b), nil
}
