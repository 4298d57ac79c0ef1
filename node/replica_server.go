package node

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
)

// replicaServer is the node-to-node gRPC service: the batched replica
// stream, partition streaming and the anti-entropy RPCs (Merkle trees and
// FetchObjects). Until merkle is wired, the anti-entropy RPCs answer
// Unimplemented.
type replicaServer struct {
	pb.UnimplementedReplicaServer
	svc      *replication.ReplicaService
	streamer *replication.PartitionStreamer
	merkle   *replication.MerkleService
}

var _ pb.ReplicaServer = (*replicaServer)(nil)

// errNoMerkle answers the anti-entropy RPCs of a server built without a
// MerkleService.
var errNoMerkle = status.Error(codes.Unimplemented, "anti-entropy is not served by this node")

func (s *replicaServer) Exchange(stream pb.Replica_ExchangeServer) error {
	return s.svc.Exchange(stream)
}

func (s *replicaServer) StreamPartition(req *pb.StreamPartitionRequest, stream pb.Replica_StreamPartitionServer) error {
	return s.streamer.StreamPartition(req, stream)
}

func (s *replicaServer) MerkleRoots(ctx context.Context, req *pb.MerkleRootsRequest) (*pb.MerkleRootsResponse, error) {
	if s.merkle == nil {
		return nil, errNoMerkle
	}
	return s.merkle.MerkleRoots(ctx, req)
}

func (s *replicaServer) MerkleNodes(ctx context.Context, req *pb.MerkleNodesRequest) (*pb.MerkleNodesResponse, error) {
	if s.merkle == nil {
		return nil, errNoMerkle
	}
	return s.merkle.MerkleNodes(ctx, req)
}

func (s *replicaServer) LeafEntries(ctx context.Context, req *pb.LeafEntriesRequest) (*pb.LeafEntriesResponse, error) {
	if s.merkle == nil {
		return nil, errNoMerkle
	}
	return s.merkle.LeafEntries(ctx, req)
}

func (s *replicaServer) FetchObjects(ctx context.Context, req *pb.FetchObjectsRequest) (*pb.FetchObjectsResponse, error) {
	if s.merkle == nil {
		return nil, errNoMerkle
	}
	return s.merkle.FetchObjects(ctx, req)
}
