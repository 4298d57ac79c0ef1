package antientropy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// Bounds of the Merkle and FetchObjects RPCs. Requests beyond them are
// refused with InvalidArgument; a response that would grow beyond
// MaxResponseBytes fails with ResourceExhausted, and the caller
// asks for fewer leaves or keys.
const (
	// MaxFetchKeys bounds the keys of one FetchObjects request.
	MaxFetchKeys = 4096
	// MaxResponseBytes bounds the leaf entries or objects of one
	// LeafEntries or FetchObjects response: room for the largest object a
	// cluster may allow (--max-object-bytes is at most 64 MiB of values
	// and members) with its encoding, within replication.MaxMessageBytes.
	MaxResponseBytes = 128 << 20
)

// MerkleService serves the anti-entropy RPCs of the Replica service
// (MerkleRoots, MerkleNodes, LeafEntries, FetchObjects) from the local
// store. Every request is validated before the store is read: a partition,
// level, index, leaf or key out of range, a duplicate or too many of them
// is refused with InvalidArgument naming the bound. It is safe for
// concurrent use and holds no goroutine; register it through a composite
// Replica server (see node's replicaServer).
type MerkleService struct {
	store      MerkleStore
	replicates func(p keyspace.Partition) bool
	maxResp    int
}

// MerkleServiceConfig holds the settings of a MerkleService.
type MerkleServiceConfig struct {
	// Replicates tells the service which partitions this node replicates:
	// MerkleRoots leaves the others out, as the RPC's contract says, so a
	// peer whose ring differs skips them this round. It is called on every
	// request and must not block. Nil: every partition.
	Replicates func(p keyspace.Partition) bool
	// MaxResponseBytes bounds the leaf entries or objects of one
	// LeafEntries or FetchObjects response (ResourceExhausted beyond it).
	// Zero means MaxResponseBytes; tests lower it.
	MaxResponseBytes int
}

// DefaultMerkleServiceConfig returns a configuration with every default
// set.
func DefaultMerkleServiceConfig() MerkleServiceConfig {
	return MerkleServiceConfig{MaxResponseBytes: MaxResponseBytes}
}

// Validate reports the first unusable setting.
func (c MerkleServiceConfig) Validate() error {
	if c.MaxResponseBytes < 0 {
		return fmt.Errorf("merkle service: max response bytes is %d: must not be negative", c.MaxResponseBytes)
	}
	return nil
}

// NewMerkleService returns the service over store.
func NewMerkleService(cfg MerkleServiceConfig, store MerkleStore) (*MerkleService, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("merkle service: store is required")
	}
	s := &MerkleService{store: store, replicates: cfg.Replicates, maxResp: cfg.MaxResponseBytes}
	if s.replicates == nil {
		s.replicates = func(keyspace.Partition) bool { return true }
	}
	if s.maxResp == 0 {
		s.maxResp = MaxResponseBytes
	}
	return s, nil
}

// MerkleRoots answers the roots of the requested partitions (at most Q,
// without duplicates) that this node replicates, in request order.
func (s *MerkleService) MerkleRoots(_ context.Context, req *pb.MerkleRootsRequest) (*pb.MerkleRootsResponse, error) {
	in := req.GetPartitions()
	if len(in) > keyspace.Q {
		return nil, status.Errorf(codes.InvalidArgument, "%d partitions requested, at most %d", len(in), keyspace.Q)
	}
	var seen [keyspace.Q]bool
	parts := make([]keyspace.Partition, 0, len(in))
	for _, p := range in {
		if err := checkPartition(p); err != nil {
			return nil, err
		}
		if seen[p] {
			return nil, status.Errorf(codes.InvalidArgument, "partition %d requested twice", p)
		}
		seen[p] = true
		if s.replicates(keyspace.Partition(p)) {
			parts = append(parts, keyspace.Partition(p))
		}
	}
	resp := &pb.MerkleRootsResponse{Roots: make([]*pb.PartitionHash, len(parts))}
	if len(parts) == 0 {
		return resp, nil
	}
	roots, err := s.store.MerkleRoots(parts)
	if err != nil {
		return nil, storeStatus("merkle roots", err)
	}
	for i, p := range parts {
		resp.Roots[i] = &pb.PartitionHash{Partition: uint32(p), Hash: roots[i][:]}
	}
	return resp, nil
}

// MerkleNodes answers the requested nodes of one level of a partition's
// tree, in request order; no index means no node.
func (s *MerkleService) MerkleNodes(_ context.Context, req *pb.MerkleNodesRequest) (*pb.MerkleNodesResponse, error) {
	if err := checkPartition(req.GetPartition()); err != nil {
		return nil, err
	}
	level := req.GetLevel()
	if level >= storage.MerkleLevels {
		return nil, status.Errorf(codes.InvalidArgument, "merkle level %d out of range: 0 to %d", level, storage.MerkleLevels-1)
	}
	width := 1
	for range level {
		width *= storage.MerkleFanout
	}
	indexes, err := checkIndexes("merkle node", req.GetIndexes(), width)
	if err != nil {
		return nil, err
	}
	resp := &pb.MerkleNodesResponse{Hashes: make([][]byte, len(indexes))}
	if len(indexes) == 0 {
		return resp, nil // the store reads nil as the whole level
	}
	hashes, err := s.store.MerkleNodes(keyspace.Partition(req.GetPartition()), int(level), indexes)
	if err != nil {
		return nil, storeStatus("merkle nodes", err)
	}
	for i := range hashes {
		resp.Hashes[i] = hashes[i][:]
	}
	return resp, nil
}

// LeafEntries answers the entries under the requested leaves, in storage
// key order (the leaves' order within the partition).
func (s *MerkleService) LeafEntries(_ context.Context, req *pb.LeafEntriesRequest) (*pb.LeafEntriesResponse, error) {
	if err := checkPartition(req.GetPartition()); err != nil {
		return nil, err
	}
	leaves, err := checkIndexes("merkle leaf", req.GetLeaves(), storage.MerkleLeaves)
	if err != nil {
		return nil, err
	}
	slices.Sort(leaves) // a partition's leaves lie in storage-key order
	p := keyspace.Partition(req.GetPartition())
	resp := &pb.LeafEntriesResponse{}
	size := 0
	for _, leaf := range leaves {
		entries, err := s.store.LeafEntries(p, leaf)
		if err != nil {
			return nil, storeStatus("leaf entries", err)
		}
		for _, e := range entries {
			kh := &pb.KeyHash{Key: e.Key, ObjectHash: e.Hash[:]}
			if size += proto.Size(kh); size > s.maxResp {
				return nil, status.Errorf(codes.ResourceExhausted,
					"entries of %d leaves exceed %d bytes: ask for fewer leaves", len(leaves), s.maxResp)
			}
			resp.Entries = append(resp.Entries, kh)
		}
	}
	return resp, nil
}

// FetchObjects answers the objects of the requested keys (1 to
// MaxFetchKeys distinct keys of 1 to storage.MaxKeyBytes bytes), in request
// order, leaving out keys it holds nothing for.
func (s *MerkleService) FetchObjects(_ context.Context, req *pb.FetchObjectsRequest) (*pb.FetchObjectsResponse, error) {
	keys := req.GetKeys()
	if len(keys) > MaxFetchKeys {
		return nil, status.Errorf(codes.InvalidArgument, "%d keys requested, at most %d", len(keys), MaxFetchKeys)
	}
	seen := make(map[string]struct{}, len(keys))
	for i, k := range keys {
		if len(k) == 0 || len(k) > storage.MaxKeyBytes {
			return nil, status.Errorf(codes.InvalidArgument, "key %d is %d bytes: keys are 1 to %d bytes", i, len(k), storage.MaxKeyBytes)
		}
		if _, dup := seen[string(k)]; dup {
			return nil, status.Errorf(codes.InvalidArgument, "key %q requested twice", k)
		}
		seen[string(k)] = struct{}{}
	}
	resp := &pb.FetchObjectsResponse{}
	size := 0
	for _, k := range keys {
		obj, err := s.store.Get(k)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, storeStatus("fetch objects", err)
		}
		ko := &pb.KeyObject{Key: k, Object: obj.Marshal()}
		if size += proto.Size(ko); size > s.maxResp {
			return nil, status.Errorf(codes.ResourceExhausted,
				"objects of %d keys exceed %d bytes: ask for fewer keys", len(keys), s.maxResp)
		}
		resp.Objects = append(resp.Objects, ko)
	}
	return resp, nil
}

func checkPartition(p uint32) error {
	if p >= keyspace.Q {
		return status.Errorf(codes.InvalidArgument, "partition %d out of range: 0 to %d", p, keyspace.Q-1)
	}
	return nil
}

// checkIndexes validates distinct positions in [0, width) and converts
// them.
func checkIndexes(what string, in []uint32, width int) ([]int, error) {
	if len(in) > width {
		return nil, status.Errorf(codes.InvalidArgument, "%d %ss requested, the level has %d", len(in), what, width)
	}
	out := make([]int, len(in))
	seen := make([]bool, width)
	for i, x := range in {
		if int64(x) >= int64(width) {
			return nil, status.Errorf(codes.InvalidArgument, "%s %d out of range: 0 to %d", what, x, width-1)
		}
		if seen[x] {
			return nil, status.Errorf(codes.InvalidArgument, "%s %d requested twice", what, x)
		}
		seen[x] = true
		out[i] = int(x)
	}
	return out, nil
}

// storeStatus translates a store error at the gRPC edge.
func storeStatus(op string, err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, storage.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, storage.ErrClosed):
		code = codes.Unavailable
	case errors.Is(err, storage.ErrCorrupt):
		code = codes.DataLoss
	}
	return status.Errorf(code, "%s: %v", op, err)
}
