package antientropy

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

func mustMerkleService(tb testing.TB, cfg MerkleServiceConfig, store MerkleStore) *MerkleService {
	tb.Helper()
	s, err := NewMerkleService(cfg, store)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func seq(n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i)
	}
	return out
}

func TestMerkleService_validation(t *testing.T) {
	e := openEngineIn(t, t.TempDir())
	keys, objs := testKeys(100, 10)
	writeAll(t, keys, objs, e)
	s := mustMerkleService(t, MerkleServiceConfig{}, e)
	ctx := context.Background()
	tooMany := make([][]byte, MaxFetchKeys+1)
	for i := range tooMany {
		tooMany[i] = []byte{byte(i), byte(i >> 8)}
	}
	for _, tc := range []struct {
		name string
		call func() error
		want string // in the InvalidArgument message; "" means success
	}{
		{"roots: ok", func() error {
			_, err := s.MerkleRoots(ctx, &pb.MerkleRootsRequest{Partitions: seq(keyspace.Q)})
			return err
		}, ""},
		{"roots: none", func() error { _, err := s.MerkleRoots(ctx, &pb.MerkleRootsRequest{}); return err }, ""},
		{"roots: nil request", func() error { _, err := s.MerkleRoots(ctx, nil); return err }, ""},
		{"roots: partition Q", func() error {
			_, err := s.MerkleRoots(ctx, &pb.MerkleRootsRequest{Partitions: []uint32{keyspace.Q}})
			return err
		}, "partition 1024 out of range"},
		{"roots: max uint32", func() error {
			_, err := s.MerkleRoots(ctx, &pb.MerkleRootsRequest{Partitions: []uint32{^uint32(0)}})
			return err
		}, "out of range"},
		{"roots: duplicate", func() error {
			_, err := s.MerkleRoots(ctx, &pb.MerkleRootsRequest{Partitions: []uint32{3, 3}})
			return err
		}, "partition 3 requested twice"},
		{"roots: more than Q", func() error {
			_, err := s.MerkleRoots(ctx, &pb.MerkleRootsRequest{Partitions: seq(keyspace.Q + 1)})
			return err
		}, "at most 1024"},
		{"nodes: level 1", func() error {
			_, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Partition: 1, Level: 1, Indexes: seq(16)})
			return err
		}, ""},
		{"nodes: every leaf", func() error {
			_, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Partition: 1, Level: 2, Indexes: seq(256)})
			return err
		}, ""},
		{"nodes: nil request", func() error { _, err := s.MerkleNodes(ctx, nil); return err }, ""},
		{"nodes: level 3", func() error {
			_, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Partition: 1, Level: 3, Indexes: []uint32{0}})
			return err
		}, "merkle level 3 out of range"},
		{"nodes: huge level", func() error {
			_, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Level: ^uint32(0)})
			return err
		}, "out of range"},
		{"nodes: index 16 of level 1", func() error {
			_, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Partition: 1, Level: 1, Indexes: []uint32{16}})
			return err
		}, "merkle node 16 out of range: 0 to 15"},
		{"nodes: index 1 of the root", func() error {
			_, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Level: 0, Indexes: []uint32{1}})
			return err
		}, "out of range: 0 to 0"},
		{"nodes: more than the level", func() error {
			_, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Level: 1, Indexes: seq(17)})
			return err
		}, "the level has 16"},
		{"nodes: duplicate", func() error {
			_, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Level: 2, Indexes: []uint32{7, 7}})
			return err
		}, "requested twice"},
		{"nodes: partition Q", func() error {
			_, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Partition: keyspace.Q, Level: 1})
			return err
		}, "out of range"},
		{"leaves: every leaf", func() error {
			_, err := s.LeafEntries(ctx, &pb.LeafEntriesRequest{Partition: 1, Leaves: seq(256)})
			return err
		}, ""},
		{"leaves: none", func() error { _, err := s.LeafEntries(ctx, &pb.LeafEntriesRequest{Partition: 1}); return err }, ""},
		{"leaves: leaf 256", func() error {
			_, err := s.LeafEntries(ctx, &pb.LeafEntriesRequest{Leaves: []uint32{256}})
			return err
		}, "merkle leaf 256 out of range: 0 to 255"},
		{"leaves: 257 of them", func() error {
			_, err := s.LeafEntries(ctx, &pb.LeafEntriesRequest{Leaves: seq(257)})
			return err
		}, "the level has 256"},
		{"leaves: duplicate", func() error {
			_, err := s.LeafEntries(ctx, &pb.LeafEntriesRequest{Leaves: []uint32{2, 2}})
			return err
		}, "requested twice"},
		{"leaves: partition Q", func() error {
			_, err := s.LeafEntries(ctx, &pb.LeafEntriesRequest{Partition: keyspace.Q, Leaves: []uint32{0}})
			return err
		}, "out of range"},
		{"fetch: ok", func() error { _, err := s.FetchObjects(ctx, &pb.FetchObjectsRequest{Keys: keys}); return err }, ""},
		{"fetch: nil request", func() error { _, err := s.FetchObjects(ctx, nil); return err }, ""},
		{"fetch: empty key", func() error {
			_, err := s.FetchObjects(ctx, &pb.FetchObjectsRequest{Keys: [][]byte{[]byte("a"), {}}})
			return err
		}, "key 1 is 0 bytes"},
		{"fetch: key too long", func() error {
			_, err := s.FetchObjects(ctx, &pb.FetchObjectsRequest{Keys: [][]byte{make([]byte, storage.MaxKeyBytes+1)}})
			return err
		}, "keys are 1 to"},
		{"fetch: duplicate", func() error {
			_, err := s.FetchObjects(ctx, &pb.FetchObjectsRequest{Keys: [][]byte{[]byte("a"), []byte("a")}})
			return err
		}, "requested twice"},
		{"fetch: too many", func() error {
			_, err := s.FetchObjects(ctx, &pb.FetchObjectsRequest{Keys: tooMany})
			return err
		}, "at most 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
				t.Fatalf("got %v, want InvalidArgument containing %q", err, tc.want)
			}
		})
	}
}

func TestMerkleService_answers(t *testing.T) {
	e := openEngineIn(t, t.TempDir())
	keys, objs := testKeys(500, 10)
	writeAll(t, keys, objs, e)
	p := keyspace.PartitionOf(keys[0])
	s := mustMerkleService(t, MerkleServiceConfig{Replicates: func(q keyspace.Partition) bool { return q != 7 }}, e)
	ctx := context.Background()

	roots, err := s.MerkleRoots(ctx, &pb.MerkleRootsRequest{Partitions: []uint32{uint32(p), 7}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := e.MerkleRoots([]keyspace.Partition{p})
	if len(roots.Roots) != 1 || roots.Roots[0].Partition != uint32(p) || !bytes.Equal(roots.Roots[0].Hash, want[0][:]) {
		t.Fatalf("roots = %v: want partition %d only (7 is not replicated)", roots.Roots, p)
	}

	nodes, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Partition: uint32(p), Level: 2, Indexes: []uint32{200, 3}})
	if err != nil {
		t.Fatal(err)
	}
	wantNodes, _ := e.MerkleNodes(p, 2, []int{200, 3})
	if len(nodes.Hashes) != 2 || !bytes.Equal(nodes.Hashes[0], wantNodes[0][:]) || !bytes.Equal(nodes.Hashes[1], wantNodes[1][:]) {
		t.Fatal("nodes not answered in request order")
	}
	if none, err := s.MerkleNodes(ctx, &pb.MerkleNodesRequest{Partition: uint32(p), Level: 1}); err != nil || len(none.Hashes) != 0 {
		t.Fatalf("no index asked: %v, %v", none, err)
	}

	// Leaves asked in any order come back in storage-key order.
	entries, err := s.LeafEntries(ctx, &pb.LeafEntriesRequest{Partition: uint32(p), Leaves: []uint32{255 - uint32(storage.LeafOf(keys[0])), uint32(storage.LeafOf(keys[0]))}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i, en := range entries.Entries {
		if i > 0 && bytes.Compare(storage.Key(entries.Entries[i-1].Key), storage.Key(en.Key)) >= 0 {
			t.Fatal("entries not in storage-key order")
		}
		found = found || bytes.Equal(en.Key, keys[0])
	}
	if !found {
		t.Fatal("key missing from its leaf's entries")
	}

	fetchedObjs, err := s.FetchObjects(ctx, &pb.FetchObjectsRequest{Keys: [][]byte{keys[1], []byte("absent"), keys[0]}})
	if err != nil {
		t.Fatal(err)
	}
	if len(fetchedObjs.Objects) != 2 || !bytes.Equal(fetchedObjs.Objects[0].Key, keys[1]) || !bytes.Equal(fetchedObjs.Objects[1].Key, keys[0]) ||
		!bytes.Equal(fetchedObjs.Objects[1].Object, objs[0].Marshal()) {
		t.Fatalf("fetch = %v: want keys 1 and 0, the absent key left out", fetchedObjs.Objects)
	}
}

func TestMerkleService_closedStoreIsUnavailable(t *testing.T) {
	e := openEngineIn(t, t.TempDir())
	s := mustMerkleService(t, MerkleServiceConfig{}, e)
	e.Close()
	_, err := s.MerkleRoots(context.Background(), &pb.MerkleRootsRequest{Partitions: []uint32{1}})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("roots of a closed store: %v", err)
	}
}

// FuzzMerkleService feeds arbitrary bytes, decoded as each request, to the
// service: it must never panic, and refuse only with InvalidArgument (or
// ResourceExhausted for an answer too large).
func FuzzMerkleService(f *testing.F) {
	e := openEngineIn(f, f.TempDir())
	keys, objs := testKeys(200, 10)
	writeAll(f, keys, objs, e)
	s := mustMerkleService(f, MerkleServiceConfig{}, e)
	seeds := []proto.Message{
		&pb.MerkleRootsRequest{Partitions: []uint32{0, 1, 1023}},
		&pb.MerkleNodesRequest{Partition: 5, Level: 1, Indexes: []uint32{0, 15}},
		&pb.LeafEntriesRequest{Partition: uint32(keyspace.PartitionOf(keys[0])), Leaves: []uint32{uint32(storage.LeafOf(keys[0]))}},
		&pb.FetchObjectsRequest{Keys: keys[:3]},
	}
	for i, m := range seeds {
		b, _ := proto.Marshal(m)
		f.Add(uint8(i), b)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		var err error
		switch which % 4 {
		case 0:
			req := &pb.MerkleRootsRequest{}
			if proto.Unmarshal(data, req) != nil {
				return
			}
			_, err = s.MerkleRoots(ctx, req)
		case 1:
			req := &pb.MerkleNodesRequest{}
			if proto.Unmarshal(data, req) != nil {
				return
			}
			var resp *pb.MerkleNodesResponse
			if resp, err = s.MerkleNodes(ctx, req); err == nil && len(resp.Hashes) != len(req.Indexes) {
				t.Fatalf("%d hashes for %d indexes", len(resp.Hashes), len(req.Indexes))
			}
		case 2:
			req := &pb.LeafEntriesRequest{}
			if proto.Unmarshal(data, req) != nil {
				return
			}
			_, err = s.LeafEntries(ctx, req)
		case 3:
			req := &pb.FetchObjectsRequest{}
			if proto.Unmarshal(data, req) != nil {
				return
			}
			_, err = s.FetchObjects(ctx, req)
		}
		if c := status.Code(err); err != nil && c != codes.InvalidArgument && c != codes.ResourceExhausted {
			t.Fatalf("refused with %v", err)
		}
	})
}
