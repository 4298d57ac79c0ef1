package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

const (
	// aeFetchBatch bounds the keys of one FetchObjects call a round makes
	// (also bounded by the key bucket).
	aeFetchBatch = 1000
	// aeKeyParallelism bounds the merges and pushes of one partition in
	// flight, so they share group commits and replica stream batches.
	aeKeyParallelism = 32
)

// merkleHash is a Merkle node or entry hash.
type merkleHash = [storage.HashSize]byte

// roundState is one round with one peer; its counters are updated by the
// partitions repaired concurrently.
type roundState struct {
	a      *AntiEntropy
	peer   string
	client pb.ReplicaClient

	compared, differing, inSync int
	aeFetched, pushed, entries  atomic.Int64
	bytes                       atomic.Int64
}

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

// FillFrom runs one full anti-entropy pass with peer over parts: the
// partitions a joining node will replicate and peer replicates now. It
// brings this node every object peer holds in them (and peer any this node
// received as a write target meanwhile). The round is not recorded in Last.
func (a *AntiEntropy) FillFrom(ctx context.Context, peer string, parts []keyspace.Partition) (Round, error) {
	return a.round(ctx, peer, func(*ring.Ring) []keyspace.Partition { return parts }, false)
}

func (a *AntiEntropy) round(ctx context.Context, peer string, partitions func(*ring.Ring) []keyspace.Partition, record bool) (Round, error) {
	fail := func(err error) (Round, error) { return Round{Peer: peer}, &RoundError{Peer: peer, Err: err} }
	if peer == "" || peer == a.cfg.NodeID {
		return fail(invalid("%q is not a peer", peer))
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
		return fail(fmt.Errorf("%w: no ring yet", ErrNotJoined))
	}
	client, err := a.dial(peer)
	if err != nil {
		return fail(fmt.Errorf("dial: %w", err))
	}
	rs := &roundState{a: a, peer: peer, client: client}
	start := a.cfg.Now()
	err = rs.run(ctx, partitions(r))
	end := a.cfg.Now()
	round := rs.summary(start, end)
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

func (rs *roundState) summary(start, end time.Time) Round {
	f, p := int(rs.aeFetched.Load()), int(rs.pushed.Load())
	return Round{
		Peer: rs.peer, Time: end, Duration: end.Sub(start),
		PartitionsCompared: rs.compared, PartitionsDiffering: rs.differing, PartitionsInSync: rs.inSync,
		KeysFetched: f, KeysPushed: p, KeysExchanged: f + p,
		EntriesCompared: int(rs.entries.Load()), BytesExchanged: rs.bytes.Load(),
	}
}

func (rs *roundState) run(ctx context.Context, shared []keyspace.Partition) error {
	if len(shared) == 0 {
		return nil
	}
	at := rs.a.cfg.Now()
	local, err := rs.a.store.MerkleRoots(shared)
	if err != nil {
		return fmt.Errorf("local merkle roots: %w", err)
	}
	remote, err := rs.peerRoots(ctx, shared)
	if err != nil {
		return err
	}
	var differing []keyspace.Partition
	for i, p := range shared {
		h, ok := remote[p]
		if !ok {
			continue // the peer does not replicate p by its ring: not this round
		}
		rs.compared++
		if h == local[i] {
			rs.synced(p, at)
		} else {
			differing = append(differing, p)
		}
	}
	rs.differing = len(differing)

	var (
		mu       sync.Mutex
		repaired []keyspace.Partition
		fails    aeFailures
	)
	aeForEach(ctx, len(differing), rs.a.cfg.PartitionParallelism, func(i int) {
		p := differing[i]
		if err := rs.repairPartition(ctx, p); err != nil {
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
		rs.confirm(ctx, repaired)
	}
	return fails.err("partitions")
}

// confirm re-reads both roots of the repaired partitions and reports those
// now equal.
func (rs *roundState) confirm(ctx context.Context, parts []keyspace.Partition) {
	at := rs.a.cfg.Now()
	local, err := rs.a.store.MerkleRoots(parts)
	if err == nil {
		var remote map[keyspace.Partition]merkleHash
		if remote, err = rs.peerRoots(ctx, parts); err == nil {
			for i, p := range parts {
				if h, ok := remote[p]; ok && h == local[i] {
					rs.synced(p, at)
				}
			}
			return
		}
	}
	rs.a.cfg.Logger.Warn("anti-entropy: cannot confirm repaired partitions", "peer", rs.peer, "err", err)
}

func (rs *roundState) synced(p keyspace.Partition, at time.Time) {
	rs.inSync++
	if f := rs.a.cfg.OnPartitionInSync; f != nil {
		f(rs.peer, p, at)
	}
}

// aeCall makes one RPC to the peer within the RPC timeout and counts its
// messages' bytes.
func aeCall[Req, Resp proto.Message](ctx context.Context, rs *roundState, req Req,
	f func(context.Context, Req, ...grpc.CallOption) (Resp, error)) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, rs.a.cfg.RPCTimeout)
	defer cancel()
	resp, err := f(ctx, req)
	if err != nil {
		return resp, err
	}
	rs.bytes.Add(int64(proto.Size(req) + proto.Size(resp)))
	return resp, nil
}

// peerRoots asks the peer for the roots of parts, in one call, and checks
// that it answers only for those, once each.
func (rs *roundState) peerRoots(ctx context.Context, parts []keyspace.Partition) (map[keyspace.Partition]merkleHash, error) {
	req := &pb.MerkleRootsRequest{Partitions: make([]uint32, len(parts))}
	asked := make(map[keyspace.Partition]bool, len(parts))
	for i, p := range parts {
		req.Partitions[i] = uint32(p)
		asked[p] = true
	}
	resp, err := aeCall(ctx, rs, req, rs.client.MerkleRoots)
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

// repairPartition reconciles partition p with the peer, descending only
// into differing subtrees.
func (rs *roundState) repairPartition(ctx context.Context, p keyspace.Partition) error {
	all := make([]int, storage.MerkleFanout)
	for i := range all {
		all[i] = i
	}
	nodes, err := rs.differingNodes(ctx, p, 1, all)
	if err != nil || len(nodes) == 0 {
		return err // equal level 1 under differing roots: written meanwhile
	}
	leaves := make([]int, 0, len(nodes)*storage.MerkleFanout)
	for _, n := range nodes {
		for j := n * storage.MerkleFanout; j < (n+1)*storage.MerkleFanout; j++ {
			leaves = append(leaves, j)
		}
	}
	if leaves, err = rs.differingNodes(ctx, p, 2, leaves); err != nil || len(leaves) == 0 {
		return err
	}

	local := map[string]merkleHash{}
	for _, leaf := range leaves {
		entries, err := rs.a.store.LeafEntries(p, leaf)
		if err != nil {
			return fmt.Errorf("local leaf entries: %w", err)
		}
		for _, e := range entries {
			local[string(e.Key)] = e.Hash
		}
	}
	remote := map[string]merkleHash{}
	if err := rs.peerLeafEntries(ctx, p, leaves, remote); err != nil {
		return err
	}
	var fetch, push []string
	for k, h := range remote {
		if lh, ok := local[k]; !ok || lh != h {
			fetch = append(fetch, k)
		}
	}
	for k := range local {
		if _, ok := remote[k]; !ok {
			push = append(push, k)
		}
	}
	slices.Sort(fetch)
	slices.Sort(push)
	var fails aeFailures
	if err := rs.fetch(ctx, p, fetch, remote, &fails); err != nil {
		return err
	}
	aeForEach(ctx, len(push), aeKeyParallelism, func(i int) {
		key := []byte(push[i])
		obj, err := rs.a.store.Get(key)
		if errors.Is(err, storage.ErrNotFound) {
			return // purged meanwhile
		}
		if err != nil {
			fails.add(fmt.Errorf("read key %q: %w", key, err))
			return
		}
		fails.add(rs.push(ctx, key, obj, obj.Marshal()))
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	return fails.err("keys")
}

// differingNodes compares nodes idx of level in p's tree on both sides and
// returns those that differ.
func (rs *roundState) differingNodes(ctx context.Context, p keyspace.Partition, level int, idx []int) ([]int, error) {
	local, err := rs.a.store.MerkleNodes(p, level, idx)
	if err != nil {
		return nil, fmt.Errorf("local merkle nodes: %w", err)
	}
	req := &pb.MerkleNodesRequest{Partition: uint32(p), Level: uint32(level), Indexes: make([]uint32, len(idx))}
	for i, x := range idx {
		req.Indexes[i] = uint32(x)
	}
	resp, err := aeCall(ctx, rs, req, rs.client.MerkleNodes)
	if err != nil {
		return nil, fmt.Errorf("merkle nodes of level %d: %w", level, err)
	}
	if len(resp.GetHashes()) != len(idx) {
		return nil, fmt.Errorf("merkle nodes of level %d: peer sent %d hashes for %d nodes", level, len(resp.GetHashes()), len(idx))
	}
	var out []int
	for i, b := range resp.GetHashes() {
		h, err := toMerkleHash(b)
		if err != nil {
			return nil, fmt.Errorf("merkle nodes of level %d: %w", level, err)
		}
		if h != local[i] {
			out = append(out, idx[i])
		}
	}
	return out, nil
}

// peerLeafEntries adds the peer's entries under leaves of p to into. A peer
// that finds the answer too large gets asked for half the leaves at a time.
// Every entry is checked to lie under an asked leaf.
func (rs *roundState) peerLeafEntries(ctx context.Context, p keyspace.Partition, leaves []int, into map[string]merkleHash) error {
	req := &pb.LeafEntriesRequest{Partition: uint32(p), Leaves: make([]uint32, len(leaves))}
	asked := make(map[int]bool, len(leaves))
	for i, l := range leaves {
		req.Leaves[i] = uint32(l)
		asked[l] = true
	}
	resp, err := aeCall(ctx, rs, req, rs.client.LeafEntries)
	if status.Code(err) == codes.ResourceExhausted && len(leaves) > 1 {
		h := len(leaves) / 2
		if err := rs.peerLeafEntries(ctx, p, leaves[:h], into); err != nil {
			return err
		}
		return rs.peerLeafEntries(ctx, p, leaves[h:], into)
	}
	if err != nil {
		return fmt.Errorf("leaf entries: %w", err)
	}
	if err := rs.a.limiter.wait(ctx, 0, proto.Size(resp)); err != nil {
		return err
	}
	rs.entries.Add(int64(len(resp.GetEntries())))
	for _, e := range resp.GetEntries() {
		k := e.GetKey()
		if len(k) == 0 || len(k) > storage.MaxKeyBytes || keyspace.PartitionOf(k) != p || !asked[storage.LeafOf(k)] {
			return fmt.Errorf("leaf entries: peer sent key %.64q, not under the leaves asked", k)
		}
		if _, dup := into[string(k)]; dup {
			return fmt.Errorf("leaf entries: peer sent key %.64q twice", k)
		}
		h, err := toMerkleHash(e.GetObjectHash())
		if err != nil {
			return fmt.Errorf("leaf entries: key %.64q: %w", k, err)
		}
		into[string(k)] = h
	}
	return nil
}

// fetch pulls the peer's objects of keys, merges each into the local copy
// and pushes the merged object back when it differs from the peer's
// (remote holds the peer's entry hashes). Failures of single keys are added
// to fails; the error is that of an RPC.
func (rs *roundState) fetch(ctx context.Context, p keyspace.Partition, keys []string, remote map[string]merkleHash, fails *aeFailures) error {
	batch := rs.a.limiter.keyBatch(aeFetchBatch)
	for len(keys) > 0 {
		n := min(batch, len(keys))
		chunk := keys[:n]
		keys = keys[n:]
		if err := rs.a.limiter.wait(ctx, len(chunk), 0); err != nil {
			return err
		}
		objs, err := rs.fetchObjects(ctx, p, chunk)
		if err != nil {
			return err
		}
		aeForEach(ctx, len(objs), aeKeyParallelism, func(i int) {
			fails.add(rs.mergeFetched(ctx, objs[i], remote[string(objs[i].key)]))
		})
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// aeFetched is an object fetched from the peer, decoded.
type aeFetched struct {
	key []byte
	obj *conflict.Object
}

// fetchObjects asks for keys (halving on ResourceExhausted) and checks the
// answer: only asked keys of p, once each, objects that decode.
func (rs *roundState) fetchObjects(ctx context.Context, p keyspace.Partition, keys []string) ([]aeFetched, error) {
	req := &pb.FetchObjectsRequest{Keys: make([][]byte, len(keys))}
	asked := make(map[string]bool, len(keys))
	for i, k := range keys {
		req.Keys[i] = []byte(k)
		asked[k] = true
	}
	resp, err := aeCall(ctx, rs, req, rs.client.FetchObjects)
	if status.Code(err) == codes.ResourceExhausted && len(keys) > 1 {
		h := len(keys) / 2
		a, err := rs.fetchObjects(ctx, p, keys[:h])
		if err != nil {
			return nil, err
		}
		b, err := rs.fetchObjects(ctx, p, keys[h:])
		return append(a, b...), err
	}
	if err != nil {
		return nil, fmt.Errorf("fetch objects: %w", err)
	}
	if err := rs.a.limiter.wait(ctx, 0, proto.Size(resp)); err != nil {
		return nil, err
	}
	out := make([]aeFetched, 0, len(resp.GetObjects()))
	for _, ko := range resp.GetObjects() {
		k := ko.GetKey()
		if !asked[string(k)] {
			return nil, fmt.Errorf("fetch objects: peer sent key %.64q, which was not asked or came twice", k)
		}
		asked[string(k)] = false
		o, err := conflict.DecodeObject(ko.GetObject())
		if err != nil {
			return nil, fmt.Errorf("fetch objects: key %.64q: %w", k, err)
		}
		out = append(out, aeFetched{key: k, obj: o})
	}
	return out, nil
}

// mergeFetched merges a fetched object locally, after the clock accepted
// it, and pushes the result when the peer's copy (hash peerHash) lacks
// something of ours.
func (rs *roundState) mergeFetched(ctx context.Context, f aeFetched, peerHash merkleHash) error {
	if rs.a.observe != nil {
		if err := rs.a.observe(f.obj.MaxTimestamp()); err != nil {
			return fmt.Errorf("refusing key %.64q from the peer: %w", f.key, err)
		}
	}
	merged, err := rs.a.store.Merge(f.key, f.obj)
	if err != nil {
		return fmt.Errorf("merge key %.64q: %w", f.key, err)
	}
	rs.aeFetched.Add(1)
	enc := merged.Marshal()
	if storage.EntryHash(f.key, enc) == peerHash {
		return nil // the peer's copy already held everything: nothing to send
	}
	return rs.push(ctx, f.key, merged, enc)
}

// push sends the local object of key (encoded as enc) to the peer, which
// merges it.
func (rs *roundState) push(ctx context.Context, key []byte, obj *conflict.Object, enc []byte) error {
	if err := rs.a.limiter.wait(ctx, 1, len(key)+len(enc)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, rs.a.cfg.RPCTimeout)
	defer cancel()
	if _, err := rs.a.push.Apply(ctx, rs.peer, key, obj, false); err != nil {
		return fmt.Errorf("push key %.64q: %w", key, err)
	}
	rs.pushed.Add(1)
	rs.bytes.Add(int64(len(key) + len(enc)))
	return nil
}

// aeForEach calls fn(i) for every i in [0, n), at most limit at once, and
// returns when all calls have; once ctx is done it starts no more.
func aeForEach(ctx context.Context, n, limit int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, limit))
	for i := range n {
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				fn(i)
			}()
			continue
		}
		break
	}
	wg.Wait()
}

// aeFailures collects the failures of independent steps: how many, and the
// first.
type aeFailures struct {
	mu    sync.Mutex
	n     int
	first error
}

// add records err; nil is ignored.
func (f *aeFailures) add(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.first = err
	}
	f.n++
}

// err returns nil, the only failure, or a count of what failed with the
// first failure wrapped.
func (f *aeFailures) err(what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.n {
	case 0:
		return nil
	case 1:
		return f.first
	}
	return fmt.Errorf("%d %s failed, the first: %w", f.n, what, f.first)
}
