package antientropy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// fetchOnly serves FetchObjects of the Replica service.
type fetchOnly struct {
	pb.UnimplementedReplicaServer
	svc *MerkleService
}

func (f fetchOnly) FetchObjects(ctx context.Context, req *pb.FetchObjectsRequest) (*pb.FetchObjectsResponse, error) {
	return f.svc.FetchObjects(ctx, req)
}

func serveFetch(t *testing.T, e *storage.Engine) pb.ReplicaClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterReplicaServer(srv, fetchOnly{svc: mustMerkleService(t, MerkleServiceConfig{}, e)})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewReplicaClient(conn)
}

type fixedRing struct{ r *ring.Ring }

func (f fixedRing) Load() *ring.Ring { return f.r }

// purgeWorld is three replicas of every key: a purges, b and c confirm.
type purgeWorld struct {
	a, b, c *storage.Engine
	down    map[string]bool
	purger  *Purger
	now     time.Time
}

func newPurgeWorld(t *testing.T) *purgeWorld {
	t.Helper()
	w := &purgeWorld{a: openEngine(t), b: openEngine(t), c: openEngine(t), down: map[string]bool{}, now: time.Now()}
	r, err := ring.New([]ring.Member{{ID: "a", VNodes: 64, State: ring.Normal}, {ID: "b", VNodes: 64, State: ring.Normal},
		{ID: "c", VNodes: 64, State: ring.Normal}}, 3, keyspace.Q)
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]pb.ReplicaClient{"b": serveFetch(t, w.b), "c": serveFetch(t, w.c)}
	w.purger, err = NewPurger(PurgeConfig{NodeID: "a", Grace: 24 * time.Hour, PeerTimeout: time.Second, Clock: func() time.Time { return w.now }},
		w.a, fixedRing{r}, PeerDialerFunc(func(id string) (pb.ReplicaClient, error) {
			if w.down[id] {
				return nil, errors.New("unreachable")
			}
			return clients[id], nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var (
	longAgo = conflict.Timestamp{Wall: time.Now().Add(-72 * time.Hour).UnixNano()}
	deleted = conflict.Timestamp{Wall: time.Now().Add(-48 * time.Hour).UnixNano()}
)

// oldValue and oldTombstone are a key's value written 72h ago and the
// delete of it 48h ago.
func oldValue() *conflict.Object {
	o := &conflict.Object{}
	o.Put(conflict.LWW, conflict.Dot{Actor: 1, Counter: 1}, longAgo, []byte("v"), conflict.Context{})
	return o
}

func oldTombstone() *conflict.Object {
	o := oldValue()
	o.Delete(conflict.LWW, conflict.Dot{Actor: 1, Counter: 2}, deleted, o.Reg.Ctx, o.Set.Ctx)
	return o
}

// mustGraceStore returns e under the grace rule of 24h on the real clock.
func mustGraceStore(t *testing.T, e *storage.Engine) *GraceStore {
	t.Helper()
	g, err := NewGraceStore(e, 24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func purgePut(t *testing.T, e *storage.Engine, key string, o *conflict.Object) {
	t.Helper()
	if _, err := e.Merge([]byte(key), o); err != nil {
		t.Fatal(err)
	}
}

func purgeHas(e *storage.Engine, key string) bool {
	_, err := e.Get([]byte(key))
	return err == nil
}

func TestPurger_Sweep(t *testing.T) {
	ctx := context.Background()
	t.Run("tombstone confirmed by every replica is purged", func(t *testing.T) {
		w := newPurgeWorld(t)
		for _, e := range []*storage.Engine{w.a, w.b, w.c} {
			purgePut(t, e, "k", oldTombstone())
		}
		if n, err := w.purger.Sweep(ctx); err != nil || n != 1 || purgeHas(w.a, "k") {
			t.Fatalf("purged %d, err %v, still there %v", n, err, purgeHas(w.a, "k"))
		}
	})
	t.Run("a replica holding nothing confirms", func(t *testing.T) {
		w := newPurgeWorld(t)
		purgePut(t, w.a, "k", oldTombstone())
		purgePut(t, w.b, "k", oldTombstone())
		if n, _ := w.purger.Sweep(ctx); n != 1 {
			t.Fatalf("purged %d, want 1", n)
		}
	})
	t.Run("young tombstones and live values stay", func(t *testing.T) {
		w := newPurgeWorld(t)
		young := oldValue()
		young.Delete(conflict.LWW, conflict.Dot{Actor: 1, Counter: 2}, conflict.Timestamp{Wall: time.Now().UnixNano()}, young.Reg.Ctx, young.Set.Ctx)
		for _, e := range []*storage.Engine{w.a, w.b, w.c} {
			purgePut(t, e, "young", young)
			purgePut(t, e, "live", oldValue())
		}
		if n, _ := w.purger.Sweep(ctx); n != 0 || !purgeHas(w.a, "young") || !purgeHas(w.a, "live") {
			t.Fatalf("purged %d", n)
		}
	})
	t.Run("a replica that missed the delete blocks the purge", func(t *testing.T) {
		w := newPurgeWorld(t)
		purgePut(t, w.a, "k", oldTombstone())
		purgePut(t, w.b, "k", oldTombstone())
		purgePut(t, w.c, "k", oldValue()) // c was down for the delete
		if n, _ := w.purger.Sweep(ctx); n != 0 || !purgeHas(w.a, "k") {
			t.Fatalf("purged %d while c still holds the old value", n)
		}
	})
	t.Run("an unreachable replica blocks the purge", func(t *testing.T) {
		w := newPurgeWorld(t)
		for _, e := range []*storage.Engine{w.a, w.b, w.c} {
			purgePut(t, e, "k", oldTombstone())
		}
		w.down["c"] = true
		if n, _ := w.purger.Sweep(ctx); n != 0 || !purgeHas(w.a, "k") {
			t.Fatalf("purged %d with c unreachable", n)
		}
	})
}

// TestPurge_downPastGraceDoesNotResurrect: c was down past the grace
// period holding the value written before the delete. The purge waits for
// it; once the tombstone reaches it, the value is gone everywhere and the
// tombstone is purged; the old value never comes back.
func TestPurge_downPastGraceDoesNotResurrect(t *testing.T) {
	ctx := context.Background()
	w := newPurgeWorld(t)
	purgePut(t, w.a, "k", oldTombstone())
	purgePut(t, w.b, "k", oldTombstone())
	purgePut(t, w.c, "k", oldValue())
	w.down["c"] = true
	if n, _ := w.purger.Sweep(ctx); n != 0 {
		t.Fatal("purged while c was down")
	}
	w.down["c"] = false
	// c is back: anti-entropy (here: the merge it performs) brings it the
	// tombstone through the grace rule, which merges it as c holds the key.
	gc := mustGraceStore(t, w.c)
	if _, err := gc.Merge([]byte("k"), oldTombstone()); err != nil {
		t.Fatal(err)
	}
	if o, _ := w.c.Get([]byte("k")); o.Live() {
		t.Fatal("c still holds the value after receiving the tombstone")
	}
	if n, _ := w.purger.Sweep(ctx); n != 1 {
		t.Fatalf("purged %d once every replica held the tombstone", n)
	}
	// b has not purged yet and sends its old tombstone back to a: dropped.
	ga := mustGraceStore(t, w.a)
	if _, err := ga.Merge([]byte("k"), oldTombstone()); err != nil {
		t.Fatal(err)
	}
	if purgeHas(w.a, "k") {
		t.Fatal("a purged tombstone came back from a replica yet to purge it")
	}
	// The old value, from anywhere, would be a live object: it is merged,
	// so the purge must never run while any replica still holds it (above).
}

// TestPurge_formerHolderMustConfirm: d was a replica of k's partition
// until the ring moved it to a, b and c, and was down meanwhile, holding
// the value written before the delete. The current replicas all hold the
// tombstone, but the purge still waits for d: once purged, d's old value
// would come back to them through its hand-off. A member that left holds
// nothing the cluster reads again and is not asked.
func TestPurge_formerHolderMustConfirm(t *testing.T) {
	ctx := context.Background()
	members := func(dState ring.State) []ring.Member {
		return []ring.Member{{ID: "a", VNodes: 64, State: ring.Normal}, {ID: "b", VNodes: 64, State: ring.Normal},
			{ID: "c", VNodes: 64, State: ring.Normal}, {ID: "d", VNodes: 64, State: dState}}
	}
	r, err := ring.New(members(ring.Normal), 3, keyspace.Q)
	if err != nil {
		t.Fatal(err)
	}
	// A key whose partition a, b and c replicate, and d does not.
	key := ""
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("k%d", i)
		reps := r.Replicas(int(keyspace.PartitionOf([]byte(k))))
		if slices.Contains(reps, "a") && !slices.Contains(reps, "d") {
			key = k
		}
	}
	for _, tc := range []struct {
		name   string
		dState ring.State
		dHolds *conflict.Object // nil: nothing
		dDown  bool
		purged int
	}{
		{"a former holder with the old value blocks the purge", ring.Normal, oldValue(), false, 0},
		{"an unreachable former holder blocks the purge", ring.Normal, nil, true, 0},
		{"a former holder that dropped the partition confirms", ring.Normal, nil, false, 1},
		{"a former holder with the tombstone confirms", ring.Normal, oldTombstone(), false, 1},
		{"a member that left is not asked", ring.Left, oldValue(), true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c, d := openEngine(t), openEngine(t), openEngine(t), openEngine(t)
			for _, e := range []*storage.Engine{a, b, c} {
				purgePut(t, e, key, oldTombstone())
			}
			if tc.dHolds != nil {
				purgePut(t, d, key, tc.dHolds)
			}
			rr, err := ring.New(members(tc.dState), 3, keyspace.Q)
			if err != nil {
				t.Fatal(err)
			}
			clients := map[string]pb.ReplicaClient{"b": serveFetch(t, b), "c": serveFetch(t, c), "d": serveFetch(t, d)}
			p, err := NewPurger(PurgeConfig{NodeID: "a", Grace: 24 * time.Hour, PeerTimeout: time.Second},
				a, fixedRing{rr}, PeerDialerFunc(func(id string) (pb.ReplicaClient, error) {
					if id == "d" && tc.dDown {
						return nil, errors.New("unreachable")
					}
					return clients[id], nil
				}))
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := p.Sweep(ctx); n != tc.purged || purgeHas(a, key) == (tc.purged == 1) {
				t.Fatalf("purged %d, want %d", n, tc.purged)
			}
		})
	}
}
