package antientropy

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// descent reconciles one differing partition with the peer of an exchange:
// it descends only into differing subtrees (level 1, then the leaves under
// differing level-1 nodes), compares the entries of the differing leaves on
// both sides and hands the keys that differ to a merge.
type descent struct {
	x *exchange
	p keyspace.Partition
}

// repair reconciles the partition.
func (d *descent) repair(ctx context.Context) error {
	leaves, err := d.differingLeaves(ctx)
	if err != nil || len(leaves) == 0 {
		return err // equal nodes under differing roots: written meanwhile
	}
	local, err := d.localEntries(leaves)
	if err != nil {
		return err
	}
	remote := map[string]merkleHash{}
	if err := d.peerLeafEntries(ctx, leaves, remote); err != nil {
		return err
	}
	fetch, push := diffEntries(local, remote)
	m := &merge{x: d.x, p: d.p, remote: remote}
	// The keys only this node holds are pushed also when fetching failed:
	// one bad key or call must not keep the others from the peer.
	ferr := m.fetch(ctx, fetch)
	m.pushLocal(ctx, push)
	if err := ctx.Err(); err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	return m.fails.err("keys")
}

// differingLeaves compares level 1 of the tree, then the leaves under the
// level-1 nodes that differ, and returns the leaves that differ.
func (d *descent) differingLeaves(ctx context.Context) ([]int, error) {
	all := make([]int, storage.MerkleFanout)
	for i := range all {
		all[i] = i
	}
	nodes, err := d.differingNodes(ctx, 1, all)
	if err != nil || len(nodes) == 0 {
		return nil, err
	}
	leaves := make([]int, 0, len(nodes)*storage.MerkleFanout)
	for _, n := range nodes {
		for j := n * storage.MerkleFanout; j < (n+1)*storage.MerkleFanout; j++ {
			leaves = append(leaves, j)
		}
	}
	return d.differingNodes(ctx, 2, leaves)
}

// differingNodes compares nodes idx of level in the tree on both sides and
// returns those that differ.
func (d *descent) differingNodes(ctx context.Context, level int, idx []int) ([]int, error) {
	local, err := d.x.a.store.MerkleNodes(d.p, level, idx)
	if err != nil {
		return nil, fmt.Errorf("local merkle nodes: %w", err)
	}
	req := &pb.MerkleNodesRequest{Partition: uint32(d.p), Level: uint32(level), Indexes: make([]uint32, len(idx))}
	for i, x := range idx {
		req.Indexes[i] = uint32(x)
	}
	resp, err := call(ctx, d.x, req, d.x.client.MerkleNodes)
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

// localEntries returns the local entries under leaves, by key.
func (d *descent) localEntries(leaves []int) (map[string]merkleHash, error) {
	local := map[string]merkleHash{}
	for _, leaf := range leaves {
		entries, err := d.x.a.store.LeafEntries(d.p, leaf)
		if err != nil {
			return nil, fmt.Errorf("local leaf entries: %w", err)
		}
		for _, e := range entries {
			local[string(e.Key)] = e.Hash
		}
	}
	return local, nil
}

// peerLeafEntries adds the peer's entries under leaves to into. A peer
// that finds the answer too large gets asked for half the leaves at a time.
// Every entry is checked to lie under an asked leaf.
func (d *descent) peerLeafEntries(ctx context.Context, leaves []int, into map[string]merkleHash) error {
	req := &pb.LeafEntriesRequest{Partition: uint32(d.p), Leaves: make([]uint32, len(leaves))}
	asked := make(map[int]bool, len(leaves))
	for i, l := range leaves {
		req.Leaves[i] = uint32(l)
		asked[l] = true
	}
	resp, err := call(ctx, d.x, req, d.x.client.LeafEntries)
	if status.Code(err) == codes.ResourceExhausted && len(leaves) > 1 {
		h := len(leaves) / 2
		if err := d.peerLeafEntries(ctx, leaves[:h], into); err != nil {
			return err
		}
		return d.peerLeafEntries(ctx, leaves[h:], into)
	}
	if err != nil {
		return fmt.Errorf("leaf entries: %w", err)
	}
	if err := d.x.a.limiter.wait(ctx, 0, proto.Size(resp)); err != nil {
		return err
	}
	d.x.entries.Add(int64(len(resp.GetEntries())))
	for _, e := range resp.GetEntries() {
		k := e.GetKey()
		if len(k) == 0 || len(k) > storage.MaxKeyBytes || keyspace.PartitionOf(k) != d.p || !asked[storage.LeafOf(k)] {
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

// diffEntries returns, sorted, the keys to fetch (the peer holds them and
// this node does not, or holds them otherwise) and the keys to push (only
// this node holds them).
func diffEntries(local, remote map[string]merkleHash) (fetch, push []string) {
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
	return fetch, push
}
