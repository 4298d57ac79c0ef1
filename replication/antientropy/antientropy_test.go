package antientropy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

func mustRound(t *testing.T, nd *testNode, peer string) Round {
	t.Helper()
	r, err := nd.ae.RoundWith(context.Background(), peer)
	if err != nil {
		t.Fatalf("round %s -> %s: %v", nd.id, peer, err)
	}
	return r
}

func sameDigest(t *testing.T, a, b *testNode) {
	t.Helper()
	if a.store.Digest() != b.store.Digest() {
		t.Fatalf("digests of %s and %s differ", a.id, b.id)
	}
}

func TestAntiEntropy_RoundWith_convergesBothWays(t *testing.T) {
	c := newTestCluster(t, clusterOptions{}, "a", "b")
	a, b := c.nodes["a"], c.nodes["b"]
	keys, objs := testKeys(300, 10)
	writeAll(t, keys, objs, a.store, b.store)
	sameDigest(t, a, b)

	// 5 keys each: only on a, only on b, newer on a, newer on b, and
	// concurrent writes on both.
	write := func(s *storage.Engine, key string, o *conflict.Object) {
		if _, err := s.Merge([]byte(key), o); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		write(a.store, fmt.Sprintf("only-a-%d", i), registerObject(2, uint64(i+1), 5000, "a"))
		write(b.store, fmt.Sprintf("only-b-%d", i), registerObject(3, uint64(i+1), 5000, "b"))
		write(a.store, string(keys[i]), registerObject(2, uint64(100+i), 6000, "newer on a"))
		write(b.store, string(keys[10+i]), registerObject(3, uint64(100+i), 6000, "newer on b"))
		write(a.store, string(keys[20+i]), registerObject(2, uint64(200+i), 7000, "concurrent a"))
		write(b.store, string(keys[20+i]), registerObject(3, uint64(200+i), 7000, "concurrent b"))
	}
	r := mustRound(t, a, "b")
	sameDigest(t, a, b)
	const differing = 25
	if r.KeysExchanged > 2*differing || r.KeysExchanged < differing {
		t.Errorf("keys exchanged = %d, want between %d and %d", r.KeysExchanged, differing, 2*differing)
	}
	if r.PartitionsCompared != keyspace.Q || r.PartitionsDiffering > differing || r.PartitionsInSync != keyspace.Q {
		t.Errorf("partitions compared %d, differing %d, in sync %d; want %d, at most %d, %d",
			r.PartitionsCompared, r.PartitionsDiffering, r.PartitionsInSync, keyspace.Q, differing, keyspace.Q)
	}
	if last := a.ae.Last(); len(last) != 1 || last[0].Peer != "b" || last[0].KeysExchanged != r.KeysExchanged {
		t.Errorf("Last() = %+v, want the round with b", last)
	}
	if len(b.ae.Last()) != 0 {
		t.Errorf("b ran no round, Last() = %+v", b.ae.Last())
	}
	if st := a.ae.Stats(); st.RoundsOK != 1 || st.RoundsFailed != 0 || st.PartitionsCompared != uint64(r.PartitionsCompared) ||
		st.KeysExchanged != uint64(r.KeysExchanged) || st.BytesExchanged != uint64(r.BytesExchanged) || st.BytesExchanged == 0 {
		t.Errorf("a's Stats() = %+v after the round %+v", st, r)
	}
	// In sync: a second round exchanges nothing.
	if r2 := mustRound(t, b, "a"); r2.KeysExchanged != 0 || r2.PartitionsDiffering != 0 {
		t.Errorf("second round: %+v", r2)
	}
}

// A round counts the tombstones among the objects it pushes: a peer that
// lacks the key drops one past its grace period, so it is pushed again by
// every round (a node about to drop a partition does not wait for that).
func TestAntiEntropy_RoundWith_countsTombstonesPushed(t *testing.T) {
	c := newTestCluster(t, clusterOptions{}, "a", "b")
	a := c.nodes["a"]
	for i := range 5 {
		o := registerObject(2, uint64(i+1), 5000, "only on a")
		if i < 2 {
			o.Delete(conflict.LWW, conflict.Dot{Actor: 2, Counter: uint64(10 + i)}, conflict.Timestamp{Wall: 6000}, o.Reg.Ctx, o.Set.Ctx)
		}
		if _, err := a.store.Merge([]byte(fmt.Sprintf("only-a-%d", i)), o); err != nil {
			t.Fatal(err)
		}
	}
	if r := mustRound(t, a, "b"); r.KeysPushed != 5 || r.TombstonesPushed != 2 || r.KeysFetched != 0 {
		t.Fatalf("round %+v: want 5 keys pushed, 2 of them tombstones, none fetched", r)
	}
	sameDigest(t, a, c.nodes["b"])
}

func TestAntiEntropy_RoundWith_restoresWipedReplica(t *testing.T) {
	for _, tc := range []struct {
		name      string
		initiator string // the node that runs the round
	}{
		{"wiped node pulls", "b"},
		{"full node pushes", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, clusterOptions{}, "a", "b")
			a, b := c.nodes["a"], c.nodes["b"]
			keys, objs := testKeys(3000, 100)
			writeAll(t, keys, objs, a.store) // b is empty: wiped
			peer := map[string]string{"a": "b", "b": "a"}[tc.initiator]
			r := mustRound(t, c.nodes[tc.initiator], peer)
			sameDigest(t, a, b)
			if st := b.store.Stats(); st.Keys != uint64(len(keys)) {
				t.Fatalf("b holds %d keys, want %d", st.Keys, len(keys))
			}
			if r.KeysExchanged != len(keys) {
				t.Errorf("keys exchanged = %d, want %d", r.KeysExchanged, len(keys))
			}
		})
	}
}

func TestAntiEntropy_RoundWith_costFollowsDifference(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100,000 keys")
	}
	const n, diff = 100_000, 100
	sa, sb, keys := twinStores(t, n, 10)
	c := newTestCluster(t, clusterOptions{stores: map[string]*storage.Engine{"a": sa, "b": sb}}, "a", "b")
	a, b := c.nodes["a"], c.nodes["b"]
	sameDigest(t, a, b)
	for i := range diff { // a newer copy of 100 keys, half on each side
		s := sa
		if i%2 == 1 {
			s = sb
		}
		k := keys[i*(n/diff)]
		if _, err := s.Merge(k, registerObject(9, uint64(i+1), 1e9, "changed")); err != nil {
			t.Fatal(err)
		}
	}
	r := mustRound(t, a, "b")
	sameDigest(t, a, b)
	t.Logf("round: %+v", r)
	if r.KeysExchanged > 2*diff {
		t.Errorf("keys exchanged = %d, want at most %d", r.KeysExchanged, 2*diff)
	}
	if r.EntriesCompared >= 1000 {
		t.Errorf("leaf entries sent by the peer = %d, want fewer than 1000", r.EntriesCompared)
	}
	if r.PartitionsDiffering > diff {
		t.Errorf("partitions differing = %d, want at most %d", r.PartitionsDiffering, diff)
	}
}

func TestAntiEntropy_RoundWith_concurrentWritesNotLost(t *testing.T) {
	c := newTestCluster(t, clusterOptions{}, "a", "b")
	a, b := c.nodes["a"], c.nodes["b"]
	keys, objs := testKeys(2000, 50)
	writeAll(t, keys[:1000], objs[:1000], a.store)
	writeAll(t, keys[1000:], objs[1000:], b.store)

	type write struct {
		store *storage.Engine
		key   []byte
		obj   *conflict.Object
	}
	var (
		mu      sync.Mutex
		written []write
		wg      sync.WaitGroup
		stop    = make(chan struct{})
	)
	// Each writer stops after writesDuring writes, or when the round ends:
	// writing without end kept every range read of the round flushing the
	// writes just made, and the round took minutes under -race.
	const writesDuring = 2000
	for w, nd := range []*testNode{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writesDuring {
				select {
				case <-stop:
					return
				default:
				}
				// Keys being repaired and new ones, on both sides.
				k := keys[(i*7+w*500)%len(keys)]
				if i%3 == 0 {
					k = fmt.Appendf(nil, "during-%d-%d", w, i)
				}
				o := registerObject(uint64(10+w), uint64(i+1), int64(1e9+i), "during")
				if _, err := nd.store.Merge(k, o); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written = append(written, write{nd.store, k, o})
				mu.Unlock()
			}
		}()
	}
	r := mustRound(t, a, "b")
	close(stop)
	wg.Wait()
	if len(written) == 0 {
		t.Fatal("no write ran during the round")
	}
	// Every write is still held by the replica it was written to: merging
	// it again changes nothing.
	for _, w := range written {
		cur, err := w.store.Get(w.key)
		if err != nil {
			t.Fatalf("key %q written during the round: %v", w.key, err)
		}
		if !bytes.Equal(conflict.Merge(conflict.LWW, cur, w.obj).Marshal(), cur.Marshal()) {
			t.Fatalf("key %q: a write made during the round was lost", w.key)
		}
	}
	mustRound(t, b, "a")
	sameDigest(t, a, b)
	t.Logf("%d writes during a round of %v: %+v", len(written), r.Duration, r)
}

func TestAntiEntropy_throttleBoundsKeysPerSecond(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e6, 0)}
	c := newTestCluster(t, clusterOptions{config: func(cfg *Config) {
		cfg.MaxKeysPerSecond = 100 // buckets of 10 keys
		cfg.MaxBytesPerSecond = -1
		cfg.Clock = clock.Now
	}}, "a", "b")
	a, b := c.nodes["a"], c.nodes["b"]
	a.ae.limiter.sleepUntil = clock.sleepUntil
	keys, objs := testKeys(300, 10)
	writeAll(t, keys, objs, b.store) // a fetches 300 objects
	start := clock.Now()
	r := mustRound(t, a, "b")
	sameDigest(t, a, b)
	elapsed := clock.Now().Sub(start)
	// 300 keys at 100/s with a bucket of 10 full at the start: about 2.9s
	// (a batch taken at a bucket boundary may save one 10 ms refill).
	if want := 2900 * time.Millisecond; elapsed < want-100*time.Millisecond || elapsed > want+500*time.Millisecond {
		t.Fatalf("throttled round of %d keys took %v of the fake clock, want about %v", r.KeysExchanged, elapsed, want)
	}
}

func TestThrottle_wait(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e6, 0)}
	th := newThrottle(-1, 1000, clock.Now) // bucket of 100 bytes
	th.sleepUntil = clock.sleepUntil
	start := clock.Now()
	// An object above the bucket is taken in buckets rather than refused.
	if err := th.wait(context.Background(), 5, 1000); err != nil {
		t.Fatal(err)
	}
	if got := clock.Now().Sub(start); got != 900*time.Millisecond {
		t.Fatalf("1000 bytes at 1000/s with a bucket of 100 waited %v, want 900ms", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := th.wait(ctx, 0, 500); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a done ctx: %v", err)
	}
	if th := newThrottle(-1, -1, clock.Now); th.wait(context.Background(), 1e9, 1e9) != nil || th.keyBatch(7) != 7 {
		t.Fatal("unbounded throttle waited or limited batches")
	}
}

func TestAntiEntropy_sharedPartitionsOnly(t *testing.T) {
	var mu sync.Mutex
	synced := map[keyspace.Partition]int{}
	c := newTestCluster(t, clusterOptions{n: 2, config: func(cfg *Config) {
		cfg.OnPartitionInSync = func(peer string, p keyspace.Partition, at time.Time) {
			mu.Lock()
			synced[p]++
			mu.Unlock()
		}
	}}, "a", "b", "c")
	a, b := c.nodes["a"], c.nodes["b"]
	keys, objs := testKeys(2000, 10)
	writeAll(t, keys, objs, a.store)
	shared := sharedPartitions(c.ring, "a", "b")
	r := mustRound(t, a, "b")
	if r.PartitionsCompared != len(shared) || r.PartitionsInSync != len(shared) {
		t.Fatalf("compared %d partitions, %d in sync; %d are shared", r.PartitionsCompared, r.PartitionsInSync, len(shared))
	}
	isShared := map[keyspace.Partition]bool{}
	for _, p := range shared {
		isShared[p] = true
		if synced[p] != 1 {
			t.Errorf("partition %d reported in sync %d times", p, synced[p])
		}
	}
	if len(synced) != len(shared) {
		t.Errorf("%d partitions reported in sync, %d are shared", len(synced), len(shared))
	}
	want := 0
	for _, k := range keys {
		_, err := b.store.Get(k)
		if has := err == nil; has != isShared[keyspace.PartitionOf(k)] {
			t.Fatalf("key %q in partition %d (shared %v): on b %v", k, keyspace.PartitionOf(k), isShared[keyspace.PartitionOf(k)], has)
		}
		if isShared[keyspace.PartitionOf(k)] {
			want++
		}
	}
	if r.KeysExchanged != want {
		t.Errorf("keys exchanged %d, want %d", r.KeysExchanged, want)
	}
	if got := a.ae.Peers(); len(got) != 2 {
		t.Errorf("peers of a = %v, want b and c", got)
	}
}

func TestAntiEntropy_RepairNow(t *testing.T) {
	c := newTestCluster(t, clusterOptions{}, "a", "b", "c")
	a := c.nodes["a"]
	keys, objs := testKeys(500, 10)
	writeAll(t, keys, objs, a.store)
	c.nodes["c"].stop() // unreachable

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peers, failed, err := a.ae.RepairNow(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(peers) != "[b c]" || len(failed) != 1 || failed[0].ID != "c" || failed[0].Reason == "" {
		t.Fatalf("RepairNow = %v, %+v; want peers [b c], c failed", peers, failed)
	}
	sameDigest(t, a, c.nodes["b"])
	if last := a.ae.Last(); len(last) != 1 || last[0].Peer != "b" {
		t.Fatalf("Last() = %+v, want the round with b only", last)
	}

	// Without wait it returns at once; the round runs in the background
	// and Close stops it.
	if peers, failed, err := c.nodes["b"].ae.RepairNow(ctx, false); err != nil || len(peers) != 2 || failed != nil {
		t.Fatalf("RepairNow(no wait) = %v, %v, %v", peers, failed, err)
	}
	c.nodes["b"].ae.Close()
	if _, _, err := c.nodes["b"].ae.RepairNow(ctx, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("RepairNow after Close: %v", err)
	}
}

func TestAntiEntropy_Run(t *testing.T) {
	c := newTestCluster(t, clusterOptions{config: func(cfg *Config) { cfg.Interval = 10 * time.Millisecond }}, "a", "b")
	a, b := c.nodes["a"], c.nodes["b"]
	keys, objs := testKeys(100, 10)
	writeAll(t, keys, objs, b.store)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.ae.Run(context.Background())
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(a.ae.Last()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no periodic round in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sameDigest(t, a, b)
	a.ae.Close() // stops Run
	<-done
	if _, err := a.ae.RoundWith(context.Background(), "b"); !errors.Is(err, ErrClosed) {
		t.Fatalf("round after Close: %v", err)
	}
}

func TestAntiEntropy_RoundWith_observeRefusesObjects(t *testing.T) {
	c := newTestCluster(t, clusterOptions{}, "a", "b")
	a, b := c.nodes["a"], c.nodes["b"]
	far := time.Now().Add(time.Hour).UnixNano() // beyond a's clock offset of 0
	if _, err := b.store.Merge([]byte("future"), registerObject(3, 1, far, "x")); err != nil {
		t.Fatal(err)
	}
	keys, objs := testKeys(10, 10)
	writeAll(t, keys, objs, b.store)
	_, err := a.ae.RoundWith(context.Background(), "b")
	var re *RoundError
	if !errors.As(err, &re) || !errors.Is(err, conflict.ErrClockOffset) {
		t.Fatalf("round with an object from the future: %v", err)
	}
	if _, err := a.store.Get([]byte("future")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the refused object was merged: %v", err)
	}
	if got := a.store.Stats().Keys; got != uint64(len(keys)) {
		t.Fatalf("a holds %d keys, want the %d others", got, len(keys))
	}
	if len(a.ae.Last()) != 0 {
		t.Fatal("a failed round was recorded")
	}
	if st := a.ae.Stats(); st.RoundsFailed != 1 || st.RoundsOK != 0 {
		t.Errorf("Stats() = %+v, want one failed round", st)
	}
}

func TestAntiEntropy_RoundWith_badPeer(t *testing.T) {
	c := newTestCluster(t, clusterOptions{}, "a", "b")
	for _, p := range []string{"", "a"} {
		if _, err := c.nodes["a"].ae.RoundWith(context.Background(), p); !errors.Is(err, replication.ErrInvalidArgument) {
			t.Errorf("round with %q: %v", p, err)
		}
	}
	if _, err := c.nodes["a"].ae.RoundWith(context.Background(), "zz"); err == nil {
		t.Error("round with an unknown peer succeeded")
	}
}

// TestLeafOfKey_matchesStorage checks the two storage layouts a round
// relies on: a key's leaf and its entry hash.
func TestLeafOfKey_matchesStorage(t *testing.T) {
	e := openEngineIn(t, t.TempDir())
	keys, objs := testKeys(200, 5)
	writeAll(t, keys, objs, e)
	for i, k := range keys {
		entries, err := e.LeafEntries(keyspace.PartitionOf(k), storage.LeafOf(k))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, en := range entries {
			if bytes.Equal(en.Key, k) {
				found = true
				if en.Hash != storage.EntryHash(k, objs[i].Marshal()) {
					t.Fatalf("key %q: the entry hash differs from the store's entry hash", k)
				}
			}
		}
		if !found {
			t.Fatalf("key %q is not under leaf %d", k, storage.LeafOf(k))
		}
	}
}

// lyingClient answers one RPC with a forged response; the others go to the
// real peer.
type lyingClient struct {
	pb.ReplicaClient
	roots   func(*pb.MerkleRootsResponse)
	nodes   func(*pb.MerkleNodesResponse)
	entries func(*pb.LeafEntriesResponse)
	objects func(*pb.FetchObjectsResponse)
}

func (l lyingClient) MerkleRoots(ctx context.Context, in *pb.MerkleRootsRequest, opts ...grpc.CallOption) (*pb.MerkleRootsResponse, error) {
	r, err := l.ReplicaClient.MerkleRoots(ctx, in, opts...)
	if err == nil && l.roots != nil {
		l.roots(r)
	}
	return r, err
}

func (l lyingClient) MerkleNodes(ctx context.Context, in *pb.MerkleNodesRequest, opts ...grpc.CallOption) (*pb.MerkleNodesResponse, error) {
	r, err := l.ReplicaClient.MerkleNodes(ctx, in, opts...)
	if err == nil && l.nodes != nil {
		l.nodes(r)
	}
	return r, err
}

func (l lyingClient) LeafEntries(ctx context.Context, in *pb.LeafEntriesRequest, opts ...grpc.CallOption) (*pb.LeafEntriesResponse, error) {
	r, err := l.ReplicaClient.LeafEntries(ctx, in, opts...)
	if err == nil && l.entries != nil {
		l.entries(r)
	}
	return r, err
}

func (l lyingClient) FetchObjects(ctx context.Context, in *pb.FetchObjectsRequest, opts ...grpc.CallOption) (*pb.FetchObjectsResponse, error) {
	r, err := l.ReplicaClient.FetchObjects(ctx, in, opts...)
	if err == nil && l.objects != nil {
		l.objects(r)
	}
	return r, err
}

func TestAntiEntropy_RoundWith_refusesForgedResponses(t *testing.T) {
	otherKey := func(p uint32) []byte { // a key outside partition p
		for i := 0; ; i++ {
			k := fmt.Appendf(nil, "x%d", i)
			if uint32(keyspace.PartitionOf(k)) != p {
				return k
			}
		}
	}
	for _, tc := range []struct {
		name string
		lie  lyingClient
	}{
		{"root of a partition not asked", lyingClient{roots: func(r *pb.MerkleRootsResponse) {
			r.Roots = append(r.Roots, &pb.PartitionHash{Partition: keyspace.Q + 5, Hash: make([]byte, 16)})
		}}},
		{"root twice", lyingClient{roots: func(r *pb.MerkleRootsResponse) { r.Roots = append(r.Roots, r.Roots[0]) }}},
		{"short root", lyingClient{roots: func(r *pb.MerkleRootsResponse) { r.Roots[0].Hash = []byte{1} }}},
		{"missing nodes", lyingClient{nodes: func(r *pb.MerkleNodesResponse) { r.Hashes = r.Hashes[1:] }}},
		{"long node", lyingClient{nodes: func(r *pb.MerkleNodesResponse) { r.Hashes[0] = make([]byte, 17) }}},
		{"entry of another partition", lyingClient{entries: func(r *pb.LeafEntriesResponse) {
			r.Entries = append(r.Entries, &pb.KeyHash{Key: otherKey(uint32(keyspace.PartitionOf(r.Entries[0].Key))), ObjectHash: make([]byte, 16)})
		}}},
		{"empty key", lyingClient{entries: func(r *pb.LeafEntriesResponse) { r.Entries[0].Key = nil }}},
		{"object not asked", lyingClient{objects: func(r *pb.FetchObjectsResponse) {
			r.Objects = append(r.Objects, &pb.KeyObject{Key: []byte("never asked"), Object: r.Objects[0].Object})
		}}},
		{"object that does not decode", lyingClient{objects: func(r *pb.FetchObjectsResponse) { r.Objects[0].Object = []byte{0xff, 0x01} }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, clusterOptions{client: func(cl pb.ReplicaClient) pb.ReplicaClient {
				l := tc.lie
				l.ReplicaClient = cl
				return l
			}}, "a", "b")
			keys, objs := testKeys(20, 10)
			writeAll(t, keys, objs, c.nodes["b"].store)
			if _, err := c.nodes["a"].ae.RoundWith(context.Background(), "b"); err == nil {
				t.Fatal("a forged response was accepted")
			}
		})
	}
}

func TestAntiEntropy_RoundWith_splitsLargeAnswers(t *testing.T) {
	c := newTestCluster(t, clusterOptions{maxResponse: 4 << 10}, "a", "b")
	a, b := c.nodes["a"], c.nodes["b"]
	// 300 keys of one partition, 500-byte values: neither their entries nor
	// their objects fit in one 4 KiB answer.
	var keys [][]byte
	var objs []*conflict.Object
	for i := 0; len(keys) < 300; i++ {
		k := fmt.Appendf(nil, "p0-%d", i)
		if keyspace.PartitionOf(k) == 0 {
			keys = append(keys, k)
			objs = append(objs, registerObject(1, uint64(len(keys)), 1000, string(make([]byte, 500))))
		}
	}
	writeAll(t, keys, objs, b.store)
	r := mustRound(t, a, "b")
	sameDigest(t, a, b)
	if r.KeysFetched != len(keys) || r.EntriesCompared != len(keys) {
		t.Fatalf("fetched %d keys, compared %d entries; want %d of each", r.KeysFetched, r.EntriesCompared, len(keys))
	}
}

// TestAntiEntropy_FillFrom_fillsOnlyTheGivenPartitions: a joining node's
// fill is one full anti-entropy pass over the partitions it will
// replicate; it copies exactly those, and is not recorded as a round.
func TestAntiEntropy_FillFrom_fillsOnlyTheGivenPartitions(t *testing.T) {
	c := newTestCluster(t, clusterOptions{}, "a", "b")
	a, b := c.nodes["a"], c.nodes["b"]
	keys, objs := testKeys(2000, 100)
	writeAll(t, keys, objs, a.store)
	var parts []keyspace.Partition
	want := 0
	for p := keyspace.Partition(0); p < keyspace.Q/2; p++ {
		parts = append(parts, p)
	}
	for _, k := range keys {
		if keyspace.PartitionOf(k) < keyspace.Q/2 {
			want++
		}
	}
	r, err := b.ae.FillFrom(context.Background(), "a", parts)
	if err != nil {
		t.Fatal(err)
	}
	if st := b.store.Stats(); st.Keys != uint64(want) || r.KeysFetched != want {
		t.Fatalf("b holds %d keys after fetching %d, want %d", st.Keys, r.KeysFetched, want)
	}
	if len(b.ae.Last()) != 0 {
		t.Fatal("a fill was recorded as an anti-entropy round")
	}
}

// One object too large for a response does not stop its partition from
// converging: the round skips it (counted), still fetches the partition's
// other keys and pushes the keys only this node holds, and reports the
// skipped key as a failure.
func TestAntiEntropy_RoundWith_oversizedObjectDoesNotBlockItsPartition(t *testing.T) {
	c := newTestCluster(t, clusterOptions{maxResponse: 4 << 10}, "a", "b")
	a, b := c.nodes["a"], c.nodes["b"]
	var keys [][]byte
	for i := 0; len(keys) < 3; i++ {
		if k := fmt.Appendf(nil, "p0-%d", i); keyspace.PartitionOf(k) == 0 {
			keys = append(keys, k)
		}
	}
	huge, small, mine := keys[0], keys[1], keys[2]
	writeAll(t, [][]byte{huge, small}, []*conflict.Object{
		registerObject(1, 1, 1000, string(make([]byte, 8<<10))), // over the 4 KiB response bound
		registerObject(1, 2, 1000, "small"),
	}, b.store)
	writeAll(t, [][]byte{mine}, []*conflict.Object{registerObject(2, 1, 1000, "a's own")}, a.store)

	_, err := a.ae.RoundWith(context.Background(), "b")
	if err == nil || !strings.Contains(err.Error(), "skipped") {
		t.Fatalf("round: %v, want a failure naming the skipped key", err)
	}
	if got := a.ae.OversizedSkipped(); got != 1 {
		t.Fatalf("OversizedSkipped = %d, want 1", got)
	}
	if _, err := a.store.Get(small); err != nil {
		t.Fatalf("the small key of the same partition did not reach a: %v", err)
	}
	if _, err := b.store.Get(mine); err != nil {
		t.Fatalf("a's own key of the same partition did not reach b: %v", err)
	}
	if _, err := a.store.Get(huge); err == nil {
		t.Fatal("the oversized object was fetched")
	}
}
