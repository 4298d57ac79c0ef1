package antientropy

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// Streaming batch sizes.
const (
	DefaultStreamBatchBytes = 1 << 20
	maxStreamBatchBytes     = 8 << 20
	// fillParallelism bounds the merges of one received batch in flight, so
	// they share group commits.
	fillParallelism = 32
)

// PartitionStreamer serves the StreamPartition RPC of the Replica service:
// a peer pulls a whole partition, in batches, resumable after any key.
type PartitionStreamer struct {
	store Scanner
}

// NewPartitionStreamer returns a streamer over the local store.
func NewPartitionStreamer(store Scanner) *PartitionStreamer {
	return &PartitionStreamer{store: store}
}

// StreamPartition sends the objects of the requested partition after
// req.After, in batches of about req.MaxBatchBytes, the last one marked done.
// The read transaction is not held while a batch is on the wire.
func (s *PartitionStreamer) StreamPartition(req *pb.StreamPartitionRequest, stream pb.Replica_StreamPartitionServer) error {
	if req.Partition >= keyspace.Q {
		return status.Errorf(codes.InvalidArgument, "partition %d out of range: 0 to %d", req.Partition, keyspace.Q-1)
	}
	limit := int(req.MaxBatchBytes)
	if limit <= 0 {
		limit = DefaultStreamBatchBytes
	}
	limit = min(limit, maxStreamBatchBytes)
	p := keyspace.Partition(req.Partition)
	after := req.After
	for {
		batch := &pb.KeyObjectBatch{}
		size, full := 0, false
		err := s.store.Scan(p, after, func(key []byte, obj *conflict.Object) bool {
			enc := obj.Marshal()
			batch.Objects = append(batch.Objects, &pb.KeyObject{Key: append([]byte(nil), key...), Object: enc})
			size += len(key) + len(enc)
			full = size >= limit
			return !full
		})
		if err != nil {
			return status.Errorf(codes.Internal, "scan partition %d: %v", p, err)
		}
		batch.Done = !full
		if err := stream.Send(batch); err != nil {
			return err
		}
		if batch.Done {
			return nil
		}
		after = storage.Key(batch.Objects[len(batch.Objects)-1].Key)
	}
}
