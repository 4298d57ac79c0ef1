package node

import (
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
)

// replicaServer is the node-to-node gRPC service: the batched replica
// stream and partition streaming. The anti-entropy RPCs are not built yet
// and answer Unimplemented.
type replicaServer struct {
	pb.UnimplementedReplicaServer
	svc      *replication.ReplicaService
	streamer *replication.PartitionStreamer
}

var _ pb.ReplicaServer = (*replicaServer)(nil)

func (s *replicaServer) Exchange(stream pb.Replica_ExchangeServer) error {
	return s.svc.Exchange(stream)
}

func (s *replicaServer) StreamPartition(req *pb.StreamPartitionRequest, stream pb.Replica_StreamPartitionServer) error {
	return s.streamer.StreamPartition(req, stream)
}
