package node

import (
	"context"

	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/antientropy"
)

// replicaServer is the node-to-node gRPC service: the batched replica
// stream, partition streaming, the anti-entropy RPCs (Merkle trees and
// FetchObjects), Join, KeyringApply and HandOffAck. Every field is set.
type replicaServer struct {
	pb.UnimplementedReplicaServer
	svc      *replication.ExchangeServer
	streamer *antientropy.PartitionStreamer
	merkle   *antientropy.MerkleService
	join     func(context.Context, *pb.JoinRequest) (*pb.JoinResponse, error)
	keyring  func(context.Context, *pb.KeyringApplyRequest) (*pb.KeyringApplyResponse, error)
	// handOffAck answers HandOffAck (drop_ack.go).
	handOffAck func(context.Context, *pb.HandOffAckRequest) (*pb.HandOffAckResponse, error)
}

var _ pb.ReplicaServer = (*replicaServer)(nil)

func (s *replicaServer) Exchange(stream pb.Replica_ExchangeServer) error {
	return s.svc.Exchange(stream)
}

func (s *replicaServer) StreamPartition(req *pb.StreamPartitionRequest, stream pb.Replica_StreamPartitionServer) error {
	return s.streamer.StreamPartition(req, stream)
}

func (s *replicaServer) MerkleRoots(ctx context.Context, req *pb.MerkleRootsRequest) (*pb.MerkleRootsResponse, error) {
	return s.merkle.MerkleRoots(ctx, req)
}

func (s *replicaServer) MerkleNodes(ctx context.Context, req *pb.MerkleNodesRequest) (*pb.MerkleNodesResponse, error) {
	return s.merkle.MerkleNodes(ctx, req)
}

func (s *replicaServer) LeafEntries(ctx context.Context, req *pb.LeafEntriesRequest) (*pb.LeafEntriesResponse, error) {
	return s.merkle.LeafEntries(ctx, req)
}

func (s *replicaServer) FetchObjects(ctx context.Context, req *pb.FetchObjectsRequest) (*pb.FetchObjectsResponse, error) {
	return s.merkle.FetchObjects(ctx, req)
}

func (s *replicaServer) Join(ctx context.Context, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	return s.join(ctx, req)
}
