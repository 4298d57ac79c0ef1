package antientropy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

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
//
// Only tests call it today: a joining node is filled by FillFrom (a full
// anti-entropy pass). It stays for the ring changes of DESIGN.md (leave,
// remove, hand-off), which move whole partitions by bulk streaming.
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
