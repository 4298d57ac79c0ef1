package replication_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

func TestCoordinator_onePartitioned(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	ctx := testCtx(t)
	n1 := c.Node("n1").Coord
	c.Net.Partition("n3", "n1")
	c.Net.Partition("n3", "n2")
	c.MarkDown("n3", time.Now())
	key, v1, v2 := []byte("k"), []byte("v1"), []byte("v2")

	r, err := n1.Put(ctx, key, v1, nil, replication.Quorum)
	if err != nil {
		t.Fatalf("QUORUM put with one replica cut off: %v", err)
	}
	if !sameSet(r.Acknowledged, []string{"n1", "n2"}) {
		t.Fatalf("acknowledged %v, want n1, n2", r.Acknowledged)
	}
	for _, id := range []string{"n1", "n2"} {
		res, err := c.Node(id).Coord.Get(ctx, key, replication.Quorum)
		if err != nil || !slices.Equal(valueStrings(res.Values), []string{"v1"}) {
			t.Fatalf("QUORUM get via %s: %q, %v; want v1", id, res.Values, err)
		}
	}

	// n3's failure reaches the coordinator after n2's acknowledgement, so
	// the error names both as DESIGN.md's example does.
	orderApplies(c, "n1", "n2", "n3")
	r, err = n1.Put(ctx, key, v2, nil, replication.All)
	c.Node("n1").Transport.SetHook(nil)
	qe := quorumError(t, err)
	// n1's own acknowledgement and n2's come in either order.
	const want = "ALL write: 2 of 3 required acknowledgements (n3 unreachable); applied on "
	if got := err.Error(); got != wantError(r, true) || !strings.HasPrefix(got, want) || !sameSet(r.Acknowledged, []string{"n1", "n2"}) {
		t.Fatalf("error:\n got %q\nwant %q followed by n1 and n2", got, want)
	}
	if !qe.Write || qe.Receipt.Level != replication.All || qe.Receipt.Required != 3 {
		t.Fatalf("quorum error %+v", qe)
	}
	if r.Applied != replication.AppliedPartial || r.HintsWritten != 1 || failedReason(r, "n3") != "unreachable" {
		t.Fatalf("receipt %+v: want applied partial, 1 hint, n3 unreachable", r)
	}
	if !c.HoldsValue("n2", key, v2) || c.HoldsValue("n3", key, v2) {
		t.Fatal("the failed ALL write must be applied on n1 and n2 and not n3")
	}

	c.Net.HealAll()
	c.MarkUp("n3")
	n1.StartHintDelivery(10 * time.Millisecond)
	// The delivery is counted just after its hint is deleted: await both.
	replicationtest.Eventually(t, awaitTimeout, func() bool {
		return c.HoldsValue("n3", key, v2) && hintsLeft(t, c) == 0 && n1.HintStats().Delivered > 0
	}, "the hint never reached n3 (%d hints left, stats %+v)", hintsLeft(t, c), n1.HintStats())
	if !c.Converged() {
		t.Fatalf("digests differ after hint delivery: %x", c.Digests())
	}
	res, err := c.Node("n3").Coord.Get(ctx, key, replication.All)
	if err != nil || !slices.Equal(valueStrings(res.Values), []string{"v2"}) {
		t.Fatalf("ALL get via n3 after the heal: %q, %v", res.Values, err)
	}
}

// The deadline case of DESIGN.md's example: one replica unreachable, the
// other too slow for the client's deadline.
func TestCoordinator_Put_deadlineError(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	c.Kill("n2")
	c.Net.SetDelay("n1", "n3", time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := c.Node("n1").Coord.Put(ctx, []byte("k"), []byte("v"), nil, replication.Quorum)
	quorumError(t, err)
	const want = "QUORUM write: 1 of 2 required acknowledgements (n2 unreachable, n3 deadline exceeded); applied on n1"
	if err.Error() != want {
		t.Fatalf("error:\n got %q\nwant %q", err, want)
	}
	if el := time.Since(start); el >= 300*time.Millisecond {
		t.Fatalf("answered after %v: must answer before the client's deadline", el)
	}
	if r.Applied != replication.AppliedPartial {
		t.Fatalf("applied %v, want partial", r.Applied)
	}
	// The slow write continues after the answer and lands.
	replicationtest.Eventually(t, awaitTimeout, func() bool { return c.HoldsValue("n3", []byte("k"), []byte("v")) },
		"the write to the slow replica did not continue after the answer")
}

func TestCoordinator_twoReplicasDown(t *testing.T) {
	for _, coord := range []string{"n1", "n2", "n3"} {
		t.Run("via "+coord, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{})
			ctx := testCtx(t)
			var down []string
			for _, id := range c.IDs() {
				if id != coord {
					c.Kill(id)
					down = append(down, id)
				}
			}
			co := c.Node(coord).Coord
			key := []byte("k")

			r, err := co.Put(ctx, key, []byte("q"), nil, replication.Quorum)
			qe := quorumError(t, err)
			if !qe.Write || err.Error() != wantError(r, true) {
				t.Fatalf("error %q, want %q", err, wantError(r, true))
			}
			if !strings.HasPrefix(err.Error(), "QUORUM write: 1 of 2 required acknowledgements (") ||
				!strings.HasSuffix(err.Error(), "; applied on "+coord) {
				t.Fatalf("error %q", err)
			}
			for _, id := range down {
				if failedReason(r, id) != "unreachable" {
					t.Fatalf("receipt %+v: %s not unreachable", r, id)
				}
			}
			if r.Applied != replication.AppliedPartial || !slices.Equal(r.Acknowledged, []string{coord}) {
				t.Fatalf("receipt %+v: want applied partial on %s", r, coord)
			}

			if _, err := co.Put(ctx, key, []byte("one"), nil, replication.One); err != nil {
				t.Fatalf("ONE put with two replicas down: %v", err)
			}
			res, err := co.Get(ctx, key, replication.One)
			if err != nil || !slices.Equal(valueStrings(res.Values), []string{"one"}) {
				t.Fatalf("ONE get: %q, %v", res.Values, err)
			}
			res, err = co.Get(ctx, key, replication.Quorum)
			qe = quorumError(t, err)
			if qe.Write || err.Error() != wantError(res.Receipt, false) ||
				!strings.HasPrefix(err.Error(), "QUORUM read: 1 of 2 required answers (") {
				t.Fatalf("QUORUM get error %q, want %q", err, wantError(res.Receipt, false))
			}
			if res.Found || res.Values != nil || res.Token != nil {
				t.Fatalf("a failed read returned data: %+v", res)
			}
			if _, err := co.Delete(ctx, key, replication.Quorum); !errors.As(err, &qe) {
				t.Fatalf("QUORUM delete with two replicas down: %v, want a QuorumError", err)
			}
		})
	}
}

func TestCoordinator_Put_replyLost(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	ctx := testCtx(t)
	key, value := []byte("k"), []byte("v")
	c.Net.DropRepliesAfterApply("n1", "n3", true)
	orderApplies(c, "n1", "n2", "n3")
	r, err := c.Node("n1").Coord.Put(ctx, key, value, nil, replication.All)
	c.Node("n1").Transport.SetHook(nil)
	quorumError(t, err)
	// n1's own acknowledgement and n2's come in either order.
	const want = "ALL write: 2 of 3 required acknowledgements (n3 reply lost); applied on "
	if got := err.Error(); got != wantError(r, true) || !strings.HasPrefix(got, want) || !sameSet(r.Acknowledged, []string{"n1", "n2"}) {
		t.Fatalf("error:\n got %q\nwant %q followed by n1 and n2", got, want)
	}
	// n3 is not counted, but its outcome is unknown, not a refusal: it did
	// apply the write. The coordinator applied it too, so the write is
	// "partial" (applied somewhere, maybe everywhere), never "none".
	if r.Applied != replication.AppliedPartial || failedReason(r, "n3") != "reply lost" || r.HintsWritten != 1 {
		t.Fatalf("receipt %+v: want applied partial, n3 reply lost, 1 hint", r)
	}
	if !c.HoldsValue("n3", key, value) {
		t.Fatal("n3 does not hold the write whose reply was lost")
	}

	// A later write of the same key while the replies are still lost: n3
	// holds it too, and its hint is merged into the first.
	v2 := []byte("v2")
	if _, err := c.Node("n1").Coord.Put(ctx, key, v2, nil, replication.Quorum); err != nil {
		t.Fatal(err)
	}
	replicationtest.Eventually(t, awaitTimeout, func() bool { return c.HoldsValue("n3", key, v2) }, "n3 never got v2")

	c.Net.DropRepliesAfterApply("n1", "n3", false)
	awaitConverged(t, c)
	if s := c.Node("n1").Coord.HintStats(); s.Delivered == 0 {
		t.Fatalf("hint stats %+v: the hint for the lost reply was not delivered", s)
	}
	for _, id := range c.IDs() {
		if !c.HoldsValue(id, key, v2) {
			t.Fatalf("%s does not hold v2", id)
		}
	}
}

func TestCoordinator_Get_blockingRepairFails(t *testing.T) {
	// No background repair after the ONE read below: it could repair n2
	// before the last QUORUM read, which must do it itself.
	c := newCluster(t, replicationtest.ClusterConfig{Coordinator: func(_ string, cfg *replication.Config) {
		cfg.ReadRepairChance = -1
	}})
	ctx := testCtx(t)
	key, value := []byte("k"), []byte("v")
	c.Kill("n3")
	// n2 refuses every apply, so the write leaves it stale and no repair
	// can bring it up to date.
	refuse := errors.New("disk full")
	c.Node("n2").Replica.SetHook(func(ctx context.Context, op string, key []byte) error {
		if op == "apply" {
			return refuse
		}
		return nil
	})
	n1 := c.Node("n1").Coord
	if _, err := n1.Put(ctx, key, value, nil, replication.One); err != nil {
		t.Fatal(err)
	}

	res, err := n1.Get(ctx, key, replication.Quorum)
	qe := quorumError(t, err)
	if !qe.Repair || qe.Write {
		t.Fatalf("quorum error %+v: want a read repair failure", qe)
	}
	const prefix = "QUORUM read: read repair brought 1 of 2 required replicas up to date ("
	if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), "n2 read repair: error: disk full") {
		t.Fatalf("error %q, want it to start %q and name n2's repair failure", err, prefix)
	}
	if res.Found || res.Values != nil || !res.Receipt.ReadRepair {
		t.Fatalf("a read whose repair failed answered: %+v", res)
	}

	res, err = n1.Get(ctx, key, replication.One)
	if err != nil || !slices.Equal(valueStrings(res.Values), []string{"v"}) {
		t.Fatalf("ONE get: %q, %v", res.Values, err)
	}

	// Once n2 takes writes again, the same read repairs it and answers.
	c.Node("n2").Replica.SetHook(nil)
	res, err = n1.Get(ctx, key, replication.Quorum)
	if err != nil || !slices.Equal(valueStrings(res.Values), []string{"v"}) || !res.Receipt.ReadRepair {
		t.Fatalf("QUORUM get after n2 recovered: %q, receipt %+v, %v", res.Values, res.Receipt, err)
	}
	if !c.HoldsValue("n2", key, value) {
		t.Fatal("the read answered before n2 was repaired")
	}
}

func TestCoordinator_hintWindow(t *testing.T) {
	const window = time.Minute
	t.Run("no hint for a replica down longer", func(t *testing.T) {
		c := newCluster(t, replicationtest.ClusterConfig{MaxHintWindow: window})
		c.Net.Down("n3")
		c.MarkDown("n3", time.Now().Add(-time.Hour))
		r, err := c.Node("n1").Coord.Put(testCtx(t), []byte("k"), []byte("v"), nil, replication.All)
		quorumError(t, err)
		if r.HintsWritten != 0 || failedReason(r, "n3") != "unreachable" {
			t.Fatalf("receipt %+v: want n3 unreachable, no hint", r)
		}
		if n := hintsLeft(t, c); n != 0 || c.Node("n1").Coord.HintStats().Written != 0 {
			t.Fatalf("%d hints stored, stats %+v: want none", n, c.Node("n1").Coord.HintStats())
		}
	})
	t.Run("old hints dropped", func(t *testing.T) {
		c := newCluster(t, replicationtest.ClusterConfig{MaxHintWindow: window})
		ctx := testCtx(t)
		c.Kill("n3")
		for _, k := range []string{"a", "b", "c"} {
			if _, err := c.Node("n1").Coord.Put(ctx, []byte(k), []byte("v"), nil, replication.All); err == nil {
				t.Fatal("ALL put with a replica down succeeded")
			}
		}
		// Within the window, a round keeps the hints of a replica still down.
		c.DeliverHints(ctx)
		if n := hintsLeft(t, c); n != 3 {
			t.Fatalf("%d hints within the window, want 3", n)
		}
		c.MarkDown("n3", time.Now().Add(-time.Hour))
		c.DeliverHints(ctx)
		if n := hintsLeft(t, c); n != 0 {
			t.Fatalf("%d hints left beyond the window", n)
		}
		if s := c.Node("n1").Coord.HintStats(); s.Dropped != 3 || s.Delivered != 0 {
			t.Fatalf("hint stats %+v: want 3 dropped, none delivered", s)
		}
	})
}

// A hint its target refuses does not hold back the others: they are
// delivered, it stays for a later round and is counted.
func TestCoordinator_DeliverHints_refusedHintDoesNotBlockTheOthers(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	ctx := testCtx(t)
	c.Kill("n3")
	keys := []string{"a", "b", "c", "d"}
	for _, k := range keys {
		if _, err := c.Node("n1").Coord.Put(ctx, []byte(k), []byte("v"), nil, replication.Quorum); err != nil {
			t.Fatal(err)
		}
	}
	replicationtest.Eventually(t, awaitTimeout, func() bool { return hintsLeft(t, c) == 4 }, "4 hints for n3 not written")
	c.Revive("n3")
	// n3 refuses the first hint in key order, whichever key that is.
	hs, err := c.Node("n1").Engine.Hints("n3", 1)
	if err != nil || len(hs) != 1 {
		t.Fatalf("hints for n3: %v, %v", hs, err)
	}
	refused := string(hs[0].Key)
	c.Node("n3").Replica.SetHook(func(_ context.Context, op string, key []byte) error {
		if op == "apply" && string(key) == refused {
			return errors.New("refused for the test")
		}
		return nil
	})
	c.Node("n1").Coord.DeliverHints(ctx)
	for _, k := range keys {
		if got := c.HoldsValue("n3", []byte(k), []byte("v")); got == (k == refused) {
			t.Fatalf("after delivery n3 holds %s: %v (refused: %s)", k, got, refused)
		}
	}
	if s := c.Node("n1").Coord.HintStats(); s.Delivered != 3 || s.Refused != 1 {
		t.Fatalf("hint stats %+v: want 3 delivered, 1 refused", s)
	}
	if left, _ := c.Node("n1").Engine.Hints("n3", 0); len(left) != 1 || string(left[0].Key) != refused {
		t.Fatalf("hints left for n3: %v, want the refused one", left)
	}
}

// Hints for one target stay within their byte budget: past it a missed
// write leaves no hint, counted.
func TestCoordinator_hintBudget(t *testing.T) {
	const budget = 4 << 10
	c := newCluster(t, replicationtest.ClusterConfig{Coordinator: func(_ string, cfg *replication.Config) {
		cfg.MaxHintBytes = budget
	}})
	ctx := testCtx(t)
	c.Kill("n3")
	value := make([]byte, 1000)
	for i := range 10 {
		if _, err := c.Node("n1").Coord.Put(ctx, fmt.Appendf(nil, "k%d", i), value, nil, replication.Quorum); err != nil {
			t.Fatal(err)
		}
	}
	replicationtest.Eventually(t, awaitTimeout, func() bool {
		s := c.Node("n1").Coord.HintStats()
		return s.Written+s.OverBudget == 10
	}, "the 10 writes n3 missed did not each leave a hint or count over the budget")
	s := c.Node("n1").Coord.HintStats()
	if s.Written == 0 || s.OverBudget == 0 {
		t.Fatalf("hint stats %+v: want some written, the rest over the budget, 10 in all", s)
	}
	if n, err := c.Node("n1").Engine.HintBytes("n3"); err != nil || n > budget+2000 {
		t.Fatalf("n3's hints take %d bytes (%v), budget %d", n, err, budget)
	}
	// Once delivered, the budget has room again.
	c.Revive("n3")
	c.Node("n1").Coord.DeliverHints(ctx)
	if _, err := c.Node("n1").Coord.Put(ctx, []byte("later"), value, nil, replication.Quorum); err != nil {
		t.Fatal(err)
	}
	c.Kill("n3")
	if _, err := c.Node("n1").Coord.Put(ctx, []byte("after"), value, nil, replication.Quorum); err != nil {
		t.Fatal(err)
	}
	replicationtest.Eventually(t, awaitTimeout, func() bool {
		return c.Node("n1").Coord.HintStats().Written > s.Written
	}, "after delivery the budget took no new hint: %+v", c.Node("n1").Coord.HintStats())
	if s2 := c.Node("n1").Coord.HintStats(); s2.OverBudget != s.OverBudget {
		t.Fatalf("after delivery a hint was refused for the budget: %+v", s2)
	}
}
