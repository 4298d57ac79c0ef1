package cluster

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

// A closed node shows dead on the others within seconds and stays in
// their table and ring (SIGTERM is not a leave).
func TestMembership_closedNodeIsDeadButStaysInRing(t *testing.T) {
	c := newTestCluster(t)
	n1, _, n3, all := c.threeConverged()
	for _, n := range all[1:] {
		if err := n.m.SetState(ring.Normal); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, converge, "all normal", func() error {
		for _, n := range all {
			for _, e := range entriesOf(n) {
				if e.State != ring.Normal {
					return fmt.Errorf("%s sees %s %v", n.id, e.ID, e.State)
				}
			}
		}
		return nil
	})
	want, _ := entry(n1, "n3")

	closed := time.Now()
	c.stop(n3)
	eventually(t, detect, "n3 dead on n1 and n2", func() error {
		for _, n := range all[:2] {
			if l := liveness(n, "n3"); l != LivenessDead {
				return fmt.Errorf("%s sees n3 %s", n.id, l)
			}
		}
		return nil
	})
	t.Logf("n3 dead on both survivors %v after Close", time.Since(closed).Round(time.Millisecond))
	for _, n := range all[:2] {
		if got, ok := n.m.Member("n3"); !ok || got.Liveness != LivenessDead || got.Entry != want {
			t.Fatalf("%s: Member(n3) = %+v, %v; want dead %+v", n.id, got, ok, want)
		}
		if got, ok := n.m.Member(n.id); !ok || got.Liveness != LivenessAlive {
			t.Fatalf("%s: Member(self) = %+v, %v; want alive", n.id, got, ok)
		}
		if _, ok := n.m.Member("n9"); ok {
			t.Fatalf("%s: Member(n9) found a member the table does not have", n.id)
		}
		if got := n.m.AliveCount(); got != 2 {
			t.Fatalf("%s: AliveCount = %d, want 2", n.id, got)
		}
		if e, ok := entry(n, "n3"); !ok || e != want {
			t.Fatalf("%s: n3's entry is %+v, want %+v", n.id, e, want)
		}
		r := n.m.Ring().Load()
		if len(r.PartitionsOf("n3")) == 0 || !slices.ContainsFunc(r.Members(), func(m ring.Member) bool { return m.ID == "n3" }) {
			t.Fatalf("%s: n3 left the ring", n.id)
		}
	}
	// Dead long enough for memberlist to forget it, n3 is still listed
	// dead.
	time.Sleep(2 * fast.toTheDead)
	if l := liveness(n1, "n3"); l != LivenessDead {
		t.Fatalf("after memberlist forgot n3, n1 sees it %s", l)
	}
	if _, ok := entry(n1, "n3"); !ok {
		t.Fatal("n3 left n1's table")
	}
}

// An operator removes a dead node; the id cannot come back, neither with
// its old table nor with an empty data dir.
func TestMembership_removedIDCannotRejoin(t *testing.T) {
	c := newTestCluster(t)
	n1, n2, n3, all := c.threeConverged()
	if err := n3.m.SetState(ring.Normal); err != nil {
		t.Fatal(err)
	}
	eventually(t, converge, "n3 normal on n1", func() error {
		if e, _ := entry(n1, "n3"); e.State != ring.Normal {
			return fmt.Errorf("n1 sees n3 %v", e.State)
		}
		return nil
	})

	// Refusals while n3 is alive, and for bad ids.
	if err := n1.m.Remove("n3"); !errors.Is(err, ErrMemberAlive) || !strings.Contains(err.Error(), `"n3"`) {
		t.Fatalf("Remove(alive n3) = %v, want ErrMemberAlive naming n3", err)
	}
	if err := n1.m.Remove("n1"); !errors.Is(err, ErrRemoveSelf) {
		t.Fatalf("Remove(self) = %v, want ErrRemoveSelf", err)
	}
	if err := n1.m.Remove("n9"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("Remove(unknown) = %v, want ErrUnknownMember", err)
	}

	c.stop(n3)
	oldTable := n3.store.data
	eventually(t, detect, "n3 dead on n1", func() error {
		if l := liveness(n1, "n3"); l != LivenessDead {
			return fmt.Errorf("n3 is %s", l)
		}
		return nil
	})
	if err := n1.m.Remove("n3"); err != nil {
		t.Fatal(err)
	}
	if err := n1.m.Remove("n3"); err != nil {
		t.Fatalf("removing a removed node again = %v, want nil", err)
	}
	eventually(t, converge, "n3 removed on n2", func() error {
		if e, _ := entry(n2, "n3"); e.State != ring.Removed {
			return fmt.Errorf("n2 sees n3 %v", e.State)
		}
		if n2.m.Ring().Load().Ownership("n3") != 0 {
			return errors.New("n3 still owns partitions on n2")
		}
		return nil
	})

	t.Run("with its old table", func(t *testing.T) {
		n3.store = &memStore{data: oldTable}
		s := c.settings
		c.start(n3, &s)
		err := recvErr(t, n3, converge)
		if !isRemoved(err, "n3") {
			t.Fatalf("error = %v, want the removed error", err)
		}
		if n3.m.Joined() {
			t.Fatal("removed node is joined")
		}
		// It saved the verdict: the next start is refused at once.
		eventually(t, converge, "verdict saved", func() error {
			for _, e := range n3.store.entries(t) {
				if e.ID == "n3" && e.State == ring.Removed {
					return nil
				}
			}
			return errors.New("not yet")
		})
		c.stop(n3)
		if _, err := New(c.config(n3), &s, n3.store); !isRemoved(err, "n3") {
			t.Fatalf("New = %v, want the removed error", err)
		}
		for _, n := range all[:2] {
			if e, _ := entry(n, "n3"); e.State != ring.Removed {
				t.Fatalf("%s sees n3 %+v", n.id, e)
			}
		}
	})
	t.Run("with an empty data dir", func(t *testing.T) {
		n3.store = &memStore{}
		adopted := n3.adopted.Load()
		c.start(n3, nil)
		err := recvErr(t, n3, converge)
		if !isRemoved(err, "n3") {
			t.Fatalf("error = %v, want the removed error", err)
		}
		if n3.m.Joined() || n3.adopted.Load() != adopted {
			t.Fatal("removed node joined or adopted settings")
		}
	})
	// The survivors never take n3 back, nor see it alive.
	time.Sleep(5 * fast.pushPull)
	for _, n := range all[:2] {
		if e, _ := entry(n, "n3"); e.State != ring.Removed {
			t.Fatalf("%s sees n3 %+v", n.id, e)
		}
		if l := liveness(n, "n3"); l != LivenessDead {
			t.Fatalf("%s sees removed n3 %s", n.id, l)
		}
	}
}

// A second process started under the id of a live member, on an empty
// data dir, is refused before it takes part; the member keeps its entry
// and keeps running.
func TestMembership_duplicateIDRefused(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	n2 := c.node(2, n1)
	c.bootstrap(n1)
	c.start(n2, nil)
	eventually(t, converge, "converged", func() error { return converged([]*node{n1, n2}, "n1", "n2") })
	before, _ := entry(n1, "n2")

	dup := c.node(2, n1)
	dup.gossip, dup.grpc = "127.0.0.1:7199", "127.0.0.1:7099"
	c.start(dup, nil)
	err := recvErr(t, dup, converge)
	var de *DuplicateIDError
	if !errors.As(err, &de) || !errors.Is(err, ErrDuplicateID) || de.ID != "n2" || de.Addr != n2.gossip {
		t.Fatalf("the duplicate n2 failed with %v, want a DuplicateIDError naming n2 at %s", err, n2.gossip)
	}
	if dup.stateLoss.Load() != 0 {
		t.Fatal("the duplicate was taken for n2 having lost its state")
	}
	select {
	case err := <-n2.m.Err():
		t.Fatalf("the live n2 failed: %v", err)
	default:
	}
	if got, _ := entry(n1, "n2"); got != before {
		t.Fatalf("n1's entry for n2 changed from %+v to %+v", before, got)
	}
	if l := liveness(n1, "n2"); l != LivenessAlive {
		t.Fatalf("n1 sees n2 %s", l)
	}
}

// Probe acks carry the member's wall clock: each node measures the offset
// of the others' clocks (DESIGN.md, Clocks).
func TestMembership_probesMeasurePeerClocks(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	n2 := c.node(2, n1)
	n2.skew = 3 * time.Second
	c.bootstrap(n1)
	c.start(n2, nil)
	measured := func(n *node, peer string, want time.Duration) error {
		v, ok := n.peerClocks.Load(peer)
		if !ok {
			return fmt.Errorf("%s has not measured %s", n.id, peer)
		}
		if d := v.(time.Duration) - want; d < -200*time.Millisecond || d > 200*time.Millisecond {
			return fmt.Errorf("%s measured %s at %v, want about %v", n.id, peer, v, want)
		}
		return nil
	}
	eventually(t, converge, "clocks measured", func() error {
		if err := measured(n1, "n2", 3*time.Second); err != nil {
			return err
		}
		return measured(n2, "n1", -3*time.Second)
	})
}
