package antientropy

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

func openEngine(t *testing.T) *storage.Engine {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.Policy = conflict.LWW
	e, err := storage.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// streamOnly serves the StreamPartition RPC of the Replica service.
type streamOnly struct {
	pb.UnimplementedReplicaServer
	*PartitionStreamer
}

func (s streamOnly) StreamPartition(req *pb.StreamPartitionRequest, st pb.Replica_StreamPartitionServer) error {
	return s.PartitionStreamer.StreamPartition(req, st)
}

func serveStreamer(t *testing.T, store Scanner) pb.ReplicaClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterReplicaServer(srv, streamOnly{PartitionStreamer: NewPartitionStreamer(store)})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewReplicaClient(conn)
}

// fillSource writes n objects (registers and sets) to e and returns the
// partitions they fall in.
func fillSource(t *testing.T, e *storage.Engine, n int) map[keyspace.Partition]int {
	t.Helper()
	parts := map[keyspace.Partition]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // concurrent writers share group commits
	for i := 0; i < n; i++ {
		key := []byte(fmt.Sprintf("key-%d", i))
		o := &conflict.Object{}
		d := conflict.Dot{Actor: 7, Counter: uint64(i + 1)}
		ts := conflict.Timestamp{Wall: int64(1000 + i)}
		if i%2 == 0 {
			o.Put(conflict.LWW, d, ts, make([]byte, 300), conflict.Context{})
		} else {
			o.SetAdd(d, ts, [][]byte{[]byte("m")})
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := e.Merge(key, o); err != nil {
				t.Error(err)
			}
		}()
		parts[keyspace.PartitionOf(key)]++
	}
	wg.Wait()
	return parts
}

func TestFillPartition_copiesEveryObject(t *testing.T) {
	src, dst := openEngine(t), openEngine(t)
	parts := fillSource(t, src, 3000)
	peer := serveStreamer(t, src)
	// A tiny batch forces many batches and resumption inside the stream.
	ctx := context.Background()
	total := 0
	for p, want := range parts {
		res, err := FillPartition(ctx, peer, dst, p, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Objects != want {
			t.Fatalf("partition %d: filled %d objects, want %d", p, res.Objects, want)
		}
		total += res.Objects
	}
	if src.Digest() != dst.Digest() {
		t.Fatalf("digests differ after filling %d objects", total)
	}
	var ps []keyspace.Partition
	for p := range parts {
		ps = append(ps, p)
	}
	a, _ := src.MerkleRoots(ps)
	b, _ := dst.MerkleRoots(ps)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("partition %d: Merkle roots differ", ps[i])
		}
	}
}

func TestPartitionStreamer_batchesAndResumes(t *testing.T) {
	src := openEngine(t)
	parts := fillSource(t, src, 2000)
	var p keyspace.Partition
	for q, n := range parts {
		if n > parts[p] {
			p = q
		}
	}
	peer := serveStreamer(t, src)
	stream, err := peer.StreamPartition(context.Background(), &pb.StreamPartitionRequest{Partition: uint32(p), MaxBatchBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	var batches, objects int
	var keys [][]byte
	for {
		b, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		batches++
		objects += len(b.Objects)
		for _, o := range b.Objects {
			keys = append(keys, o.Key)
		}
		if b.Done {
			break
		}
	}
	if objects != parts[p] || batches < 2 {
		t.Fatalf("got %d objects in %d batches, want %d objects in several", objects, batches, parts[p])
	}
	// Resuming after the k-th key sends exactly the rest.
	dst := openEngine(t)
	k := len(keys) / 2
	res, err := FillPartition(context.Background(), peer, dst, p, storage.Key(keys[k-1]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != len(keys)-k {
		t.Fatalf("resumed fill merged %d, want %d", res.Objects, len(keys)-k)
	}
}

func TestPartitionStreamer_refusesBadPartition(t *testing.T) {
	peer := serveStreamer(t, openEngine(t))
	_, err := FillPartition(context.Background(), peer, openEngine(t), keyspace.Q, nil, nil)
	if err == nil {
		t.Fatal("partition Q accepted")
	}
}

// lyingScanner returns a key of another partition.
type lyingScanner struct{}

func (lyingScanner) Scan(p keyspace.Partition, after []byte, fn func([]byte, *conflict.Object) bool) error {
	for i := 0; ; i++ {
		k := []byte(fmt.Sprintf("x%d", i))
		if keyspace.PartitionOf(k) != p {
			o := &conflict.Object{}
			o.SetAdd(conflict.Dot{Actor: 1, Counter: 1}, conflict.Timestamp{Wall: 1}, [][]byte{[]byte("m")})
			fn(k, o)
			return nil
		}
	}
}

func TestFillPartition_refusesKeysOfAnotherPartition(t *testing.T) {
	peer := serveStreamer(t, lyingScanner{})
	dst := openEngine(t)
	if _, err := FillPartition(context.Background(), peer, dst, 5, nil, nil); err == nil {
		t.Fatal("a key of another partition was accepted")
	}
	if dst.Stats().Keys != 0 {
		t.Fatal("something was written")
	}
}

func TestFillPartition_observeRefusal(t *testing.T) {
	src := openEngine(t)
	parts := fillSource(t, src, 50)
	peer := serveStreamer(t, src)
	dst := openEngine(t)
	clock := conflict.NewClock(nil, 0)
	for p := range parts {
		// Timestamps of 1970 are far behind: accepted.
		if _, err := FillPartition(context.Background(), peer, dst, p, nil, clock.Update); err != nil {
			t.Fatal(err)
		}
		break
	}
}
