package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

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

// Scanner reads a partition in storage-key order. storage.Engine
// implements it.
type Scanner interface {
	// Scan calls fn for every object of partition p after the storage key
	// after (nil: from the start) until fn returns false. fn must not keep
	// key or obj beyond the call unless it copies them.
	Scan(p keyspace.Partition, after []byte, fn func(key []byte, obj *conflict.Object) bool) error
}

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

// Merger merges an object into the local store durably.
// storage.Engine implements it.
type Merger interface {
	Merge(key []byte, obj *conflict.Object) (*conflict.Object, error)
}

// FillResult reports how far a fill got.
type FillResult struct {
	// Objects is the number of objects merged.
	Objects int
	// After is the storage key of the last object merged: a fill that failed
	// resumes from it.
	After []byte
}

// FillPartition pulls partition p from a peer, after the storage key after
// (nil: from the start), and merges every object into store. observe is
// called with each object's largest timestamp before it is merged (the node
// advances its clock; an error refuses the object and ends the fill). It
// returns when the peer sent the last batch, or with the progress made when
// something failed, so the caller can resume.
func FillPartition(ctx context.Context, peer pb.ReplicaClient, store Merger, p keyspace.Partition, after []byte,
	observe func(conflict.Timestamp) error) (FillResult, error) {
	res := FillResult{After: after}
	stream, err := peer.StreamPartition(ctx, &pb.StreamPartitionRequest{Partition: uint32(p), After: after})
	if err != nil {
		return res, fmt.Errorf("stream partition %d: %w", p, err)
	}
	for {
		batch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return res, fmt.Errorf("stream partition %d: ended before the last batch", p)
		}
		if err != nil {
			return res, fmt.Errorf("stream partition %d: %w", p, err)
		}
		if err := mergeBatch(batch.Objects, p, store, observe); err != nil {
			return res, err
		}
		if n := len(batch.Objects); n > 0 {
			res.Objects += n
			res.After = storage.Key(batch.Objects[n-1].Key)
		}
		if batch.Done {
			return res, nil
		}
	}
}

// mergeBatch decodes and merges one batch, several merges in flight so they
// share fsyncs. Every object is checked to belong to p: the peer is not
// trusted to send only what was asked.
func mergeBatch(objs []*pb.KeyObject, p keyspace.Partition, store Merger, observe func(conflict.Timestamp) error) error {
	decoded := make([]*conflict.Object, len(objs))
	for i, ko := range objs {
		if keyspace.PartitionOf(ko.Key) != p || len(ko.Key) == 0 {
			return fmt.Errorf("stream partition %d: peer sent key %q of another partition", p, ko.Key)
		}
		o, err := conflict.DecodeObject(ko.Object)
		if err != nil {
			return fmt.Errorf("stream partition %d: key %q: %w", p, ko.Key, err)
		}
		if observe != nil {
			if err := observe(o.MaxTimestamp()); err != nil {
				return fmt.Errorf("stream partition %d: key %q: %w", p, ko.Key, err)
			}
		}
		decoded[i] = o
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, fillParallelism)
	)
	for i := range objs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := store.Merge(objs[i].Key, decoded[i]); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("merge key %q: %w", objs[i].Key, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}
