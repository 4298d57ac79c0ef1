package replication_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

// A key a fast node stamped beyond the others' max clock offset (its write
// failed, applied on it alone) does not block later writes once its clock
// is back: they are stamped at the local clock, below the stored
// timestamp, and supersede it by their context (DESIGN.md, Clocks).
func TestCoordinator_Put_afterFastClockStamped(t *testing.T) {
	tests := map[string]struct {
		via       string // coordinator of the later put
		withToken bool   // the later put carries a read's token
	}{
		"blind via the once fast node": {via: "n3"},
		"token via the once fast node": {via: "n3", withToken: true},
		"token via a healthy node":     {via: "n1", withToken: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{Policy: conflict.LWW})
			ctx := testCtx(t)
			key := []byte("k")
			// n3 holds what it stamped while its clock ran 5s ahead (the
			// others refused it) and was restarted with a correct clock:
			// its copy is all that is left of the fast write.
			fast := c.Node("n3")
			stored := &conflict.Object{}
			stored.Put(conflict.LWW, conflict.Dot{Actor: 99, Counter: 1},
				conflict.Timestamp{Wall: time.Now().Add(5 * time.Second).UnixNano()}, []byte("fast"), conflict.Context{})
			if _, err := fast.Engine.Merge(key, stored); err != nil {
				t.Fatal(err)
			}
			var token []byte
			if tc.withToken {
				res, err := fast.Coord.Get(ctx, key, replication.One)
				if err != nil || !slices.Equal(valueStrings(res.Values), []string{"fast"}) {
					t.Fatalf("get via n3: %q, %v", res.Values, err)
				}
				token = res.Token
			}
			if _, err := c.Node(tc.via).Coord.Put(ctx, key, []byte("later"), token, replication.All); err != nil {
				t.Fatalf("put via %s after the clock is back: %v", tc.via, err)
			}
			if got := liveSibling(t, c, tc.via, key); !got.TS.Less(stored.MaxTimestamp()) || c.Node(tc.via).Clock.Beyond(got.TS) {
				t.Fatalf("the later put is stamped %v: want the local clock, below the stored %v", got.TS, stored.MaxTimestamp())
			}
			for _, id := range c.IDs() {
				if !c.HoldsValue(id, key, []byte("later")) {
					vs, _ := c.Values(id, key)
					t.Fatalf("%s holds %q, want later", id, vs)
				}
			}
			res, err := c.Node("n1").Coord.Get(ctx, key, replication.All)
			if err != nil || !slices.Equal(valueStrings(res.Values), []string{"later"}) {
				t.Fatalf("ALL get: %q, %v; want later", res.Values, err)
			}
		})
	}
}

// fencedCluster is a cluster whose coordinators have clock fences, fed
// (as gossip would) with the offsets of the skews the test sets.
type fencedCluster struct {
	*replicationtest.Cluster
	fences map[string]*replication.ClockFence
	skews  map[string]time.Duration
}

func newFencedCluster(t *testing.T, overGRPC bool) *fencedCluster {
	t.Helper()
	fc := &fencedCluster{fences: map[string]*replication.ClockFence{}, skews: map[string]time.Duration{}}
	ids := []string{"n1", "n2", "n3"}
	for _, id := range ids {
		others := []string{}
		for _, o := range ids {
			if o != id {
				others = append(others, o)
			}
		}
		f, err := replication.NewClockFence(replication.ClockFenceConfig{NodeID: id, MaxOffset: 500 * time.Millisecond,
			Alive: func() []string { return others }})
		if err != nil {
			t.Fatal(err)
		}
		fc.fences[id] = f
	}
	fc.Cluster = newCluster(t, replicationtest.ClusterConfig{Policy: conflict.LWW, MaxClockOffset: 500 * time.Millisecond, GRPC: overGRPC,
		Coordinator: func(id string, cfg *replication.Config) { cfg.Fence = fc.fences[id] }})
	return fc
}

// skew shifts id's wall clock by d; measure tells every fence.
func (fc *fencedCluster) skew(id string, d time.Duration) {
	fc.skews[id] = d
	fc.Node(id).SetSkew(d)
}

// measure feeds every fence the offsets of its peers, as gossip probes do.
func (fc *fencedCluster) measure() {
	for id, f := range fc.fences {
		for peer := range fc.fences {
			if peer != id {
				f.Observe(peer, fc.skews[peer]-fc.skews[id])
			}
		}
	}
}

// A node whose wall clock runs 5s ahead (max offset 500ms) fences itself,
// not the two healthy nodes; its writes are refused before they are
// stamped, and a later write through a healthy node is never overwritten
// by its failed write, not even after hints run.
func TestCoordinator_Put_fastNodeFenced(t *testing.T) {
	c := newFencedCluster(t, false)
	ctx := testCtx(t)
	key := []byte("k")
	if err := c.fences["n1"].Check(); err == nil {
		t.Fatal("n1 is not fenced before it measured its offset")
	}
	c.skew("n3", 5*time.Second)
	c.measure()
	for id, want := range map[string]bool{"n1": false, "n2": false, "n3": true} {
		if st := c.fences[id].State(); st.Fenced != want {
			t.Fatalf("%s: %+v, want fenced %v", id, st, want)
		}
	}

	r, err := c.Node("n3").Coord.Put(ctx, key, []byte("fast"), nil, replication.Quorum)
	var fe *replication.ClockFencedError
	if !errors.As(err, &fe) || fe.Node != "n3" || r.Applied != replication.AppliedNone {
		t.Fatalf("put via the fast node: %v, applied %v; want a *ClockFencedError, applied nowhere", err, r.Applied)
	}
	if _, err := c.Node("n3").Coord.SetAdd(ctx, []byte("s"), [][]byte{[]byte("m")}, replication.One); !errors.Is(err, replication.ErrClockFenced) {
		t.Fatalf("set add via the fast node: %v, want fenced", err)
	}
	if _, err := c.Node("n1").Coord.Put(ctx, key, []byte("later"), nil, replication.Quorum); err != nil {
		t.Fatalf("put via a healthy node: %v", err)
	}
	awaitConverged(t, c.Cluster)
	for _, id := range c.IDs() {
		if !c.HoldsValue(id, key, []byte("later")) {
			vs, _ := c.Values(id, key)
			t.Fatalf("%s holds %q, want later", id, vs)
		}
		res, err := c.Node(id).Coord.Get(ctx, key, replication.Quorum)
		if err != nil || !slices.Equal(valueStrings(res.Values), []string{"later"}) {
			t.Fatalf("QUORUM get via %s: %q, %v; want later", id, res.Values, err)
		}
	}
}

// A node whose clock jumps ahead between two measurements stamps one
// write; the replicas refuse it for clock offset: the write is not
// acknowledged, no hint is kept for it, and the node is fenced at once.
func TestCoordinator_Put_clockRefusalFencesAndLeavesNoHint(t *testing.T) {
	for name, overGRPC := range map[string]bool{"inmem": false, "grpc": true} {
		t.Run(name, func(t *testing.T) { testClockRefusal(t, overGRPC) })
	}
}

func testClockRefusal(t *testing.T, overGRPC bool) {
	c := newFencedCluster(t, overGRPC)
	ctx := testCtx(t)
	key := []byte("k")
	c.measure()
	c.skew("n3", 5*time.Second) // not measured yet

	r, err := c.Node("n3").Coord.Put(ctx, key, []byte("fast"), nil, replication.Quorum)
	if !errors.Is(err, replication.ErrClockFenced) || !strings.Contains(err.Error(), "refused the write's timestamp") {
		t.Fatalf("put via the fast node: %v; want refused for clock offset", err)
	}
	if r.HintsWritten != 0 {
		t.Fatalf("%d hints written for a write refused for clock offset", r.HintsWritten)
	}
	if err := c.fences["n3"].Check(); !errors.Is(err, replication.ErrClockFenced) {
		t.Fatalf("after the refusal n3's fence says %v, want fenced", err)
	}
	for _, id := range []string{"n1", "n2"} {
		if err := c.fences[id].Check(); err != nil {
			t.Fatalf("%s fenced by n3's skew: %v", id, err)
		}
	}
	// What n3 sent after the answer was refused too: still no hint.
	replicationtest.Eventually(t, awaitTimeout, func() bool {
		return c.Node("n3").Coord.HintStats().Written == 0 && hintsLeft(t, c.Cluster) == 0 &&
			!c.HoldsValue("n1", key, []byte("fast")) && !c.HoldsValue("n2", key, []byte("fast"))
	}, "hints written for a write refused for clock offset")
	c.DeliverHints(ctx)
	for _, id := range []string{"n1", "n2"} {
		if c.HoldsValue(id, key, []byte("fast")) {
			t.Fatalf("%s holds the refused write", id)
		}
	}
}

// A hint its target refuses for clock offset (stored before the fix, or by
// a node that was not fenced yet) is dropped, counted, not retried.
func TestCoordinator_DeliverHints_dropsClockRefused(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{Policy: conflict.LWW})
	ctx := testCtx(t)
	key := []byte("k")
	fast := &conflict.Object{}
	fast.Put(conflict.LWW, conflict.Dot{Actor: 99, Counter: 1},
		conflict.Timestamp{Wall: time.Now().Add(5 * time.Second).UnixNano()}, []byte("fast"), conflict.Context{})
	if err := c.Node("n1").Engine.AddHint("n2", key, fast, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.Node("n1").Coord.DeliverHints(ctx)
	if st := c.Node("n1").Coord.HintStats(); st.ClockRefused != 1 || st.Dropped != 1 || st.Delivered != 0 {
		t.Fatalf("hint stats %+v, want one dropped for clock offset", st)
	}
	if n := hintsLeft(t, c); n != 0 {
		t.Fatalf("%d hints left", n)
	}
	if c.HoldsValue("n2", key, []byte("fast")) {
		t.Fatal("n2 took the refused hint")
	}
}

// A node whose clock runs 5s behind refuses the healthy nodes' writes as
// too far ahead; it fences itself (by the median), not them: their writes
// are acknowledged at QUORUM, and it gets hints, kept until it takes them.
func TestCoordinator_Put_slowReplicaFencesItselfOnly(t *testing.T) {
	c := newFencedCluster(t, false)
	ctx := testCtx(t)
	c.skew("n3", -5*time.Second)
	c.measure()
	for id, want := range map[string]bool{"n1": false, "n2": false, "n3": true} {
		if st := c.fences[id].State(); st.Fenced != want {
			t.Fatalf("%s: %+v, want fenced %v", id, st, want)
		}
	}
	key := []byte("k")
	r, err := c.Node("n1").Coord.Put(ctx, key, []byte("v"), nil, replication.Quorum)
	if err != nil {
		t.Fatalf("put via n1 with a slow n3: %v", err)
	}
	replicationtest.Eventually(t, awaitTimeout, func() bool { return c.Node("n1").Coord.HintStats().Written == 1 },
		"no hint for the slow n3 (receipt %+v)", r)
	for _, id := range []string{"n1", "n2"} {
		if err := c.fences[id].Check(); err != nil {
			t.Fatalf("%s fenced by the slow n3: %v", id, err)
		}
	}
	c.DeliverHints(ctx)
	if st := c.Node("n1").Coord.HintStats(); st.Dropped != 0 || hintsLeft(t, c.Cluster) != 1 {
		t.Fatalf("the hint for the slow n3 was not kept: %+v, %d left", st, hintsLeft(t, c.Cluster))
	}
	c.skew("n3", 0) // its clock is right again: the hint goes through
	awaitConverged(t, c.Cluster)
}

// A node whose wall clock ran ahead and was set back (no restart) holds a
// hybrid clock beyond its wall clock + max offset: it refuses to stamp
// (the write is forwarded) rather than have every replica refuse it.
func TestCoordinator_Put_hybridClockAheadOfWallSetBack(t *testing.T) {
	c := newFencedCluster(t, false)
	ctx := testCtx(t)
	c.measure()
	n3 := c.Node("n3")
	n3.SetSkew(5 * time.Second)
	n3.Clock.Now() // the hybrid clock follows the fast wall clock
	n3.SetSkew(0)
	_, err := n3.Coord.Put(ctx, []byte("k"), []byte("v"), nil, replication.Quorum)
	var fe *replication.ClockFencedError
	if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "hybrid clock") {
		t.Fatalf("put via n3 with its hybrid clock 5s ahead: %v; want a *ClockFencedError", err)
	}
	if n := hintsLeft(t, c.Cluster); n != 0 {
		t.Fatalf("%d hints written", n)
	}
	if _, err := c.Node("n1").Coord.Put(ctx, []byte("k"), []byte("v"), nil, replication.All); err != nil {
		t.Fatalf("put via n1: %v", err)
	}
}
