package cluster

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

// fourConverged starts n1..n4 and makes them all normal.
func (c *testCluster) fourConverged() (n1, n2, n3, n4 *node, all []*node) {
	c.t.Helper()
	n1, n2, n3, _ = c.threeConverged()
	n4 = c.node(4, n1)
	c.start(n4, nil)
	all = []*node{n1, n2, n3, n4}
	eventually(c.t, converge, "four converged", func() error { return converged(all, "n1", "n2", "n3", "n4") })
	for _, n := range all {
		if err := n.m.SetState(ring.Normal); err != nil {
			c.t.Fatal(err)
		}
	}
	eventually(c.t, converge, "four normal", func() error {
		if err := converged(all, "n1", "n2", "n3", "n4"); err != nil {
			return err
		}
		for _, e := range entriesOf(n1) {
			if e.State != ring.Normal {
				return fmt.Errorf("n1 sees %s %v", e.ID, e.State)
			}
		}
		return nil
	})
	return n1, n2, n3, n4, all
}

// waitDead waits until every node of on sees id dead.
func waitDead(t *testing.T, id string, on ...*node) {
	t.Helper()
	eventually(t, detect, id+" dead", func() error {
		for _, n := range on {
			if l := liveness(n, id); l != LivenessDead {
				return fmt.Errorf("%s sees %s %s", n.id, id, l)
			}
		}
		return nil
	})
}

// replaceErr waits for n's permanent error and checks it is a
// *ReplaceError for target whose reason contains want.
func replaceErr(t *testing.T, n *node, target, want string) {
	t.Helper()
	err := recvErr(t, n, converge)
	var re *ReplaceError
	if !errors.As(err, &re) || !errors.Is(err, ErrReplaceRefused) || re.Replace != target || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: error = %v, want a replace refusal of %s saying %q", n.id, err, target, want)
	}
	if n.m.Joined() {
		t.Fatalf("%s joined although refused", n.id)
	}
}

// A new node replaces a dead member: it marks it removed, joins with its
// tokens and so will replicate exactly its partitions; the table carries
// the token seed to every member. A second replacer of the same member,
// and replacing a live or unknown member, are refused.
func TestMembership_replaceDeadMember(t *testing.T) {
	c := newTestCluster(t)
	n1, n2, n3, n4, _ := c.fourConverged()
	held := n1.m.Ring().Load().PartitionsOf("n3")
	if len(held) == 0 {
		t.Fatal("n3 holds no partition")
	}

	t.Run("alive", func(t *testing.T) {
		n6 := c.node(6, n1)
		n6.replace = "n3"
		c.start(n6, nil)
		replaceErr(t, n6, "n3", "n3 is alive")
	})
	t.Run("unknown", func(t *testing.T) {
		n7 := c.node(7, n1)
		n7.replace = "n9"
		c.start(n7, nil)
		replaceErr(t, n7, "n9", "no member")
	})

	c.stop(n3)
	waitDead(t, "n3", n1, n2, n4)

	t.Run("other vnodes", func(t *testing.T) {
		n8 := c.node(8, n1)
		n8.replace, n8.vnodes = "n3", 32
		c.start(n8, nil)
		replaceErr(t, n8, "n3", "--vnodes 16")
	})

	n5 := c.node(5, n1)
	n5.replace = "n3"
	c.start(n5, nil)
	all := []*node{n1, n2, n4, n5}
	eventually(t, converge, "n5 joined in n3's place", func() error {
		for _, n := range all {
			if !n.m.Joined() {
				return fmt.Errorf("%s not joined", n.id)
			}
			if e, _ := entry(n, "n3"); e.State != ring.Removed {
				return fmt.Errorf("%s sees n3 %v", n.id, e.State)
			}
			e, ok := entry(n, "n5")
			if !ok || e.TokensOf != "n3" || e.State != ring.Joining {
				return fmt.Errorf("%s sees n5 as %+v", n.id, e)
			}
			if got := n.m.Ring().Load().FuturePartitionsOf("n5"); !slices.Equal(got, held) {
				return fmt.Errorf("%s: n5 will replicate %d partitions, want n3's %d", n.id, len(got), len(held))
			}
		}
		return nil
	})
	if err := n5.m.SetState(ring.Normal); err != nil {
		t.Fatal(err)
	}
	eventually(t, converge, "n5 normal with n3's partitions", func() error {
		for _, n := range all {
			if got := n.m.Ring().Load().PartitionsOf("n5"); !slices.Equal(got, held) {
				return fmt.Errorf("%s: n5 replicates %d partitions, want n3's %d", n.id, len(got), len(held))
			}
		}
		return nil
	})
	if got := n5.store.entries(t); !slices.ContainsFunc(got, func(e Entry) bool { return e.ID == "n5" && e.TokensOf == "n3" }) {
		t.Fatalf("n5's saved table lacks its token seed: %+v", got)
	}

	t.Run("second replacer", func(t *testing.T) {
		n6 := c.node(6, n1)
		n6.replace = "n3"
		c.start(n6, nil)
		replaceErr(t, n6, "n3", "n5 owns its ring tokens")
	})
	t.Run("restart keeps the tokens", func(t *testing.T) {
		c.stop(n5)
		s := c.settings
		c.start(n5, &s) // the flag still set, with its table
		if e := n5.m.Self(); e.TokensOf != "n3" || e.State != ring.Normal {
			t.Fatalf("restarted n5 is %+v, want normal with n3's tokens", e)
		}
		n5.replace = ""
		c.stop(n5)
		c.start(n5, &s) // and without it
		if e := n5.m.Self(); e.TokensOf != "n3" {
			t.Fatalf("restarted n5 without --replace is %+v, want n3's tokens", e)
		}
	})
	t.Run("member of its own", func(t *testing.T) {
		c.stop(n4)
		n4.replace = "n3"
		s := c.settings
		err := c.tryStart(n4, &s)
		if !errors.Is(err, ErrReplaceRefused) || !strings.Contains(err.Error(), "already a member") {
			t.Fatalf("restarting member n4 with Replace = %v, want a replace refusal", err)
		}
	})
}

// A member an operator removed can be replaced too; the replacer leaves
// its removed entry as it is.
func TestMembership_replaceRemovedMember(t *testing.T) {
	c := newTestCluster(t)
	n1, n2, n3, n4, _ := c.fourConverged()
	held := n1.m.Ring().Load().PartitionsOf("n3")
	c.stop(n3)
	waitDead(t, "n3", n1)
	if err := n1.m.Remove("n3"); err != nil {
		t.Fatal(err)
	}
	removed, _ := entry(n1, "n3")
	n5 := c.node(5, n2)
	n5.replace = "n3"
	c.start(n5, nil)
	eventually(t, converge, "n5 joined", func() error {
		for _, n := range []*node{n1, n2, n4, n5} {
			if e, _ := entry(n, "n3"); e != removed {
				return fmt.Errorf("%s sees n3 as %+v, want %+v", n.id, e, removed)
			}
			if got := n.m.Ring().Load().FuturePartitionsOf("n5"); !slices.Equal(got, held) {
				return fmt.Errorf("%s: n5 will replicate %d partitions, want n3's %d", n.id, len(got), len(held))
			}
		}
		return nil
	})
}

// Two replacers of one member that joined at once: the ring counts one,
// and the other stops.
func TestMembership_shadowedReplacerStops(t *testing.T) {
	c := newTestCluster(t)
	n1, _, n3, _, _ := c.fourConverged()
	c.stop(n3)
	waitDead(t, "n3", n1)
	n5 := c.node(5, n1)
	n5.replace = "n3"
	c.start(n5, nil)
	eventually(t, converge, "n5 joined", func() error {
		if e, _ := entry(n1, "n5"); e.TokensOf != "n3" {
			return fmt.Errorf("n1 sees n5 as %+v", e)
		}
		if e, _ := entry(n1, "n3"); e.State != ring.Removed {
			return fmt.Errorf("n1 sees n3 %v", e.State)
		}
		return nil
	})
	// Forge what a concurrent second replacer n0 would have gossiped: it
	// sorts before n5, so the ring counts it and n5 must stop.
	forged := Entry{ID: "n0", GRPCAddr: "127.0.0.1:7000", GossipAddr: "127.0.0.1:7100", VNodes: 16, State: ring.Joining, Version: 1, TokensOf: "n3"}
	s := c.settings
	n1.m.mergeGossip(gossip{clusterID: s.ClusterID[:], entries: []Entry{forged}}, "test")
	replaceErr(t, n5, "n3", "n0 owns the ring tokens of n3")
	if sh := n1.m.Ring().Load().Shadowed(); !slices.Equal(sh, []string{"n5"}) {
		t.Fatalf("n1's ring shadows %v, want [n5]", sh)
	}
}
