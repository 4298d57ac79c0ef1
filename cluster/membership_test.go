package cluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

const (
	converge = 15 * time.Second // deadline for gossip to converge
	detect   = 10 * time.Second // deadline for memberlist to notice a death
)

func TestMembership_bootstrapFormsClusterOfOne(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	c.bootstrap(n1)

	if !n1.m.Joined() {
		t.Fatal("bootstrap node is not joined")
	}
	self := n1.m.Self()
	want := Entry{ID: "n1", GRPCAddr: n1.grpc, GossipAddr: n1.gossip, PeerAddr: n1.peer, VNodes: 16, State: ring.Normal, Version: 1}
	if self != want {
		t.Fatalf("Self = %+v, want %+v", self, want)
	}
	s, ok := n1.m.Settings()
	if !ok || !s.equal(c.settings) {
		t.Fatalf("Settings = %+v, %v", s, ok)
	}
	r := n1.m.Ring().Load()
	if r == nil || r.N() != 1 || r.Ownership("n1") != 1 {
		t.Fatalf("ring of a cluster of one: %+v", r)
	}
	if got := n1.m.AliveCount(); got != 1 {
		t.Fatalf("AliveCount = %d, want 1", got)
	}
	eventually(t, converge, "persisted", func() error {
		if es := n1.store.entries(t); len(es) != 1 || es[0] != want {
			return fmt.Errorf("store holds %v", es)
		}
		return nil
	})
	if n1.adopted.Load() != 0 || n1.stateLoss.Load() != 0 {
		t.Fatal("bootstrap node adopted settings or lost state")
	}
}

// Nodes started in any order, joiners before their seed included, agree on
// one table and one ring; joiners adopt the settings once and join as
// Joining.
func TestMembership_convergesWhateverTheStartOrder(t *testing.T) {
	tests := map[string]struct {
		order []int         // start order, by node number
		seeds map[int][]int // node -> its seeds; node 1 bootstraps
	}{
		"seed first":    {order: []int{1, 2, 3}, seeds: map[int][]int{2: {1}, 3: {1}}},
		"joiners first": {order: []int{3, 2, 1}, seeds: map[int][]int{2: {1}, 3: {1}}},
		// n3 joins n2 before n2 itself has joined: n2 answers without
		// settings until it has adopted them from n1.
		"chain, last seed first":                {order: []int{3, 2, 1}, seeds: map[int][]int{2: {1}, 3: {2}}},
		"several seeds, own address among them": {order: []int{2, 3, 1}, seeds: map[int][]int{2: {2, 3, 1}, 3: {3, 2}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newTestCluster(t)
			nodes := map[int]*node{}
			for i := 1; i <= 3; i++ {
				nodes[i] = c.node(i)
			}
			for i, ss := range tc.seeds {
				for _, s := range ss {
					nodes[i].seeds = append(nodes[i].seeds, nodes[s].gossip)
				}
			}
			seedUp := false
			for _, i := range tc.order {
				if i == 1 {
					c.bootstrap(nodes[i])
					seedUp = true
					continue
				}
				c.start(nodes[i], nil)
				if !seedUp {
					// Give it a few join attempts: with no member of the
					// cluster up, nobody can hand it settings.
					time.Sleep(3 * fast.joinRetry)
					if nodes[i].m.Joined() {
						t.Fatalf("%s joined before any member of the cluster was up", nodes[i].id)
					}
				}
			}
			all := []*node{nodes[1], nodes[2], nodes[3]}
			eventually(t, converge, "converged", func() error { return converged(all, "n1", "n2", "n3") })

			for _, n := range all[1:] {
				if got := n.adopted.Load(); got != 1 {
					t.Errorf("%s adopted settings %d times, want 1", n.id, got)
				}
				if n.stateLoss.Load() != 0 {
					t.Errorf("%s reported a state loss", n.id)
				}
				s, ok := n.m.Settings()
				if !ok || !s.equal(c.settings) {
					t.Errorf("%s has settings %+v, want %+v", n.id, s, c.settings)
				}
				if self := n.m.Self(); self.State != ring.Joining || self.Version != 1 {
					t.Errorf("%s is %+v, want joining version 1", n.id, self)
				}
				if got := n.m.AliveCount(); got != 3 {
					t.Errorf("%s: AliveCount = %d, want 3", n.id, got)
				}
			}

			// A state change spreads to every node.
			if err := nodes[2].m.SetState(ring.Normal); err != nil {
				t.Fatal(err)
			}
			eventually(t, converge, "n2 normal everywhere", func() error {
				for _, n := range all {
					if e, _ := entry(n, "n2"); e.State != ring.Normal || e.Version != 2 {
						return fmt.Errorf("%s sees n2 as %+v", n.id, e)
					}
				}
				return converged(all, "n1", "n2", "n3")
			})
		})
	}
}

// A node closed and restarted with its persisted table and settings keeps
// its place: same entry, same state, no state loss, nothing adopted.
func TestMembership_restartWithTableKeepsPlace(t *testing.T) {
	c := newTestCluster(t)
	_, n2, _, all := c.threeConverged()
	if err := n2.m.SetState(ring.Normal); err != nil {
		t.Fatal(err)
	}
	want := n2.m.Self()
	eventually(t, converge, "n2 normal everywhere", func() error {
		for _, n := range all {
			if e, _ := entry(n, "n2"); e != want {
				return fmt.Errorf("%s sees n2 as %+v", n.id, e)
			}
		}
		return nil
	})

	c.stop(n2)
	if es := n2.store.entries(t); len(es) != 3 {
		t.Fatalf("n2 persisted %v, want three entries", es)
	}
	s := c.settings
	c.start(n2, &s) // same store, same addresses
	if !n2.m.Joined() {
		t.Fatal("restarted node with its table is not joined at once")
	}
	if got := n2.m.Self(); got != want {
		t.Fatalf("restarted node is %+v, want its old entry %+v", got, want)
	}
	eventually(t, converge, "converged after restart", func() error { return converged(all, "n1", "n2", "n3") })
	for _, n := range all {
		if e, _ := entry(n, "n2"); e != want {
			t.Fatalf("%s sees n2 as %+v, want %+v", n.id, e, want)
		}
	}
	if n2.adopted.Load() != 1 || n2.stateLoss.Load() != 0 {
		t.Fatalf("restart adopted settings again (%d) or lost state (%d)", n2.adopted.Load(), n2.stateLoss.Load())
	}
}

// A restart on new addresses keeps the node's state under a new version.
func TestMembership_restartWithNewAddressBumpsVersion(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	n2 := c.node(2, n1)
	c.bootstrap(n1)
	c.start(n2, nil)
	eventually(t, converge, "converged", func() error { return converged([]*node{n1, n2}, "n1", "n2") })
	before := n2.m.Self()
	c.stop(n2)

	n2.gossip, n2.grpc = "127.0.0.1:7192", "127.0.0.1:7092"
	s := c.settings
	c.start(n2, &s)
	got := n2.m.Self()
	if got.State != before.State || got.Version != before.Version+1 || got.GossipAddr != n2.gossip || got.GRPCAddr != n2.grpc {
		t.Fatalf("after restart on new addresses: %+v (before %+v)", got, before)
	}
	eventually(t, converge, "n1 sees the new addresses", func() error {
		if e, _ := entry(n1, "n2"); e != got {
			return fmt.Errorf("n1 sees n2 as %+v, want %+v", e, got)
		}
		if l := liveness(n1, "n2"); l != LivenessAlive {
			return fmt.Errorf("n2 is %s on n1", l)
		}
		return nil
	})
}

// A known id that comes back with an empty data dir joins again as
// Joining, above its old version, and renews its actor.
func TestMembership_knownIDWithEmptyStoreComesBackJoining(t *testing.T) {
	for _, prior := range []ring.State{ring.Normal, ring.Leaving} {
		t.Run(prior.String(), func(t *testing.T) {
			c := newTestCluster(t)
			_, n2, n3, all := c.threeConverged()
			for s := ring.Normal; s <= prior; s++ {
				if err := n2.m.SetState(s); err != nil {
					t.Fatal(err)
				}
			}
			old := n2.m.Self()
			eventually(t, converge, "n2's state everywhere", func() error {
				for _, n := range all {
					if e, _ := entry(n, "n2"); e != old {
						return fmt.Errorf("%s sees n2 as %+v", n.id, e)
					}
				}
				return nil
			})

			c.stop(n2)
			n2.store = &memStore{} // the data dir is gone
			c.start(n2, nil)
			eventually(t, converge, "n2 joined again", func() error {
				if !n2.m.Joined() {
					return errors.New("not joined")
				}
				return nil
			})
			self := n2.m.Self()
			if self.State != ring.Joining || self.Version <= old.Version {
				t.Fatalf("n2 came back as %+v, want joining above version %d", self, old.Version)
			}
			if got := n2.stateLoss.Load(); got != 1 {
				t.Fatalf("OnStateLoss called %d times, want 1", got)
			}
			if got := n2.adopted.Load(); got != 2 {
				t.Fatalf("AdoptSettings called %d times in two lives, want 2", got)
			}
			eventually(t, converge, "everyone sees n2 joining", func() error {
				for _, n := range all {
					if e, _ := entry(n, "n2"); e != self {
						return fmt.Errorf("%s sees n2 as %+v, want %+v", n.id, e, self)
					}
				}
				return converged(all, "n1", "n2", "n3")
			})
			// A new id is not a state loss.
			n4 := c.node(4, n3)
			c.start(n4, nil)
			eventually(t, converge, "n4 joined", func() error { return converged(append(all, n4), "n1", "n2", "n3", "n4") })
			if n4.stateLoss.Load() != 0 {
				t.Fatal("a new id reported a state loss")
			}
		})
	}
}

// A node with settings but without its table (it lost it) learns its
// place from a member before it is joined.
func TestMembership_settingsWithoutTableLocatesItself(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	n2 := c.node(2, n1)
	c.bootstrap(n1)
	c.start(n2, nil)
	eventually(t, converge, "converged", func() error { return converged([]*node{n1, n2}, "n1", "n2") })
	if err := n2.m.SetState(ring.Normal); err != nil {
		t.Fatal(err)
	}
	old := n2.m.Self()
	eventually(t, converge, "n1 sees n2 normal", func() error {
		if e, _ := entry(n1, "n2"); e != old {
			return fmt.Errorf("n1 sees n2 as %+v", e)
		}
		return nil
	})
	c.stop(n2)
	n2.store = &memStore{}
	s := c.settings
	// No member can answer until the link is back: a member answering
	// during start would join it legitimately.
	c.net.Cut(n2.gossip, n1.gossip)
	c.start(n2, &s)
	if n2.m.Joined() {
		t.Fatal("node without its table is joined before a member answered")
	}
	c.net.Heal(n2.gossip, n1.gossip)
	eventually(t, converge, "n2 joined", func() error {
		if !n2.m.Joined() {
			return errors.New("not joined")
		}
		return nil
	})
	if self := n2.m.Self(); self.State != ring.Joining || self.Version <= old.Version {
		t.Fatalf("n2 is %+v, want joining above %d", self, old.Version)
	}
	if n2.stateLoss.Load() != 1 || n2.adopted.Load() != 1 {
		t.Fatalf("state loss %d (want 1), adopted %d (want 1: only in its first life)", n2.stateLoss.Load(), n2.adopted.Load())
	}
}

// A joiner whose AdoptSettings refuses the cluster's settings reports that
// error and never joins.
func TestMembership_refusedSettingsNeverJoin(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	n2 := c.node(2, n1)
	c.bootstrap(n1)
	n2.adoptCheck = func(s Settings) error {
		if s.ReplicationFactor != 5 {
			return fmt.Errorf("--replication-factor 5 differs from the cluster's %d", s.ReplicationFactor)
		}
		return nil
	}
	c.start(n2, nil)
	err := recvErr(t, n2, converge)
	if !errors.Is(err, ErrSettingsRefused) || !strings.Contains(err.Error(), "--replication-factor 5 differs from the cluster's 3") {
		t.Fatalf("error = %v, want the refusal naming the setting", err)
	}
	if n2.m.Joined() {
		t.Fatal("refusing node joined")
	}
	if _, ok := n2.m.Settings(); ok {
		t.Fatal("refusing node kept the refused settings")
	}
	// It stops trying: no further adoption, and n1 never lists it.
	deadline := time.Now().Add(5 * fast.joinRetry)
	for time.Now().Before(deadline) {
		if _, ok := entry(n1, "n2"); ok {
			t.Fatal("n1 lists the refusing node")
		}
		time.Sleep(fast.joinRetry)
	}
	if got := n2.adopted.Load(); got != 1 {
		t.Fatalf("AdoptSettings called %d times, want 1", got)
	}
	if err := n2.m.SetState(ring.Normal); !errors.Is(err, ErrSettingsRefused) {
		t.Fatalf("SetState after the refusal = %v", err)
	}
}

// Gossip from another cluster id is ignored, even when the memberlist
// layers of the two clusters talk to each other.
func TestMembership_ignoresAnotherCluster(t *testing.T) {
	c := newTestCluster(t)
	n1, n2 := c.node(1), c.node(2)
	n2.seeds = []string{n1.gossip}
	c.bootstrap(n1)
	c.start(n2, nil)
	eventually(t, converge, "cluster A converged", func() error { return converged([]*node{n1, n2}, "n1", "n2") })

	// Cluster B: one node whose persisted table names a member at n1's
	// gossip address, so its reconnect loop joins n1's memberlist.
	other := testSettings(3)
	other.ClusterID[0] ^= 0xff
	b1 := c.node(11)
	b1.id = "b1"
	b1.store = &memStore{}
	seed, err := encodeTable([]Entry{
		{ID: "b1", GRPCAddr: b1.grpc, GossipAddr: b1.gossip, PeerAddr: b1.peer, VNodes: 16, State: ring.Normal, Version: 1},
		{ID: "b9", GRPCAddr: "127.0.0.1:7999", GossipAddr: n1.gossip, VNodes: 16, State: ring.Normal, Version: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	b1.store.data = seed
	c.start(b1, &other)

	// Wait until the memberlists have met (b1 sees n1 alive), then for
	// several push/pull rounds and a broadcast from b1.
	eventually(t, converge, "memberlists meet", func() error {
		if !b1.m.liveSet()["n1"] {
			return errors.New("b1's memberlist has not met n1")
		}
		return nil
	})
	if err := b1.m.SetState(ring.Leaving); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * fast.pushPull) // let push/pull and broadcasts run: we check that nothing happens
	for _, n := range []*node{n1, n2} {
		for _, e := range entriesOf(n) {
			if e.ID != "n1" && e.ID != "n2" {
				t.Fatalf("%s took entry %+v from another cluster", n.id, e)
			}
		}
	}
	for _, e := range entriesOf(b1) {
		if e.ID != "b1" && e.ID != "b9" {
			t.Fatalf("b1 took entry %+v from another cluster", e)
		}
	}
	if err := converged([]*node{n1, n2}, "n1", "n2"); err != nil {
		t.Fatal(err)
	}
}

// The delegate drops gossip with another cluster id, whatever the path.
func TestDelegate_dropsForeignGossip(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	c.bootstrap(n1)
	before := entriesOf(n1)
	other := testSettings(3)
	other.ClusterID[15] ^= 1
	msg := encodeGossip(other.ClusterID, []Entry{
		{ID: "x", GRPCAddr: "a:1", GossipAddr: "a:2", VNodes: 1, State: ring.Normal, Version: 1},
		{ID: "n1", GRPCAddr: "a:1", GossipAddr: "a:2", VNodes: 1, State: ring.Removed, Version: 9},
	})
	d := &delegate{m: n1.m}
	d.NotifyMsg(msg)
	d.MergeRemoteState(msg, false)
	d.MergeRemoteState(msg, true)
	d.NotifyMsg([]byte("not a protobuf \xff\xff"))
	if got := entriesOf(n1); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("foreign gossip changed the table: %v", got)
	}
	if !n1.m.Joined() {
		t.Fatal("foreign gossip unjoined the node")
	}
}

func TestMembership_SetState_transitions(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	c.bootstrap(n1) // normal
	steps := []struct {
		to      ring.State
		illegal bool
	}{
		{to: ring.Joining, illegal: true},
		{to: ring.Left, illegal: true},
		{to: ring.Removed, illegal: true},
		{to: ring.Normal}, // no-op
		{to: ring.Leaving},
		{to: ring.Normal, illegal: true},
		{to: ring.Left},
		{to: ring.Leaving, illegal: true},
		{to: ring.Left}, // no-op
	}
	version := n1.m.Self().Version
	for _, s := range steps {
		from := n1.m.Self().State
		err := n1.m.SetState(s.to)
		if s.illegal {
			if !errors.Is(err, ErrIllegalTransition) {
				t.Fatalf("%v -> %v: %v, want ErrIllegalTransition", from, s.to, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v -> %v: %v", from, s.to, err)
		}
		if from != s.to {
			version++
		}
		if got := n1.m.Self(); got.State != s.to || got.Version != version {
			t.Fatalf("after %v -> %v: %+v, want version %d", from, s.to, got, version)
		}
	}
	if r := n1.m.Ring().Load(); r.Ownership("n1") != 0 {
		t.Fatal("a left node still owns partitions")
	}
}

func TestMembership_notJoinedRefusesChanges(t *testing.T) {
	c := newTestCluster(t)
	n2 := c.node(2)
	n2.seeds = []string{"127.0.0.1:7199"} // nobody there
	c.start(n2, nil)
	if n2.m.Joined() {
		t.Fatal("joined without a seed")
	}
	if err := n2.m.SetState(ring.Normal); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("SetState = %v, want ErrNotJoined", err)
	}
	if err := n2.m.Remove("n1"); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("Remove = %v, want ErrNotJoined", err)
	}
	if r := n2.m.Ring().Load(); r != nil {
		t.Fatal("a node that has not joined has a ring")
	}
	if ms := n2.m.Members(); len(ms) != 1 || ms[0].ID != "n2" || ms[0].Liveness != LivenessAlive {
		t.Fatalf("Members = %+v, want itself only", ms)
	}
	if _, ok := n2.m.Settings(); ok {
		t.Fatal("settings before joining")
	}
}

func TestNew_refusals(t *testing.T) {
	c := newTestCluster(t)
	tests := map[string]struct {
		setup func(n *node, cfg *Config) *Settings
		want  error
	}{
		"no settings, no seeds": {
			setup: func(n *node, cfg *Config) *Settings { cfg.Seeds = nil; return nil },
			want:  ErrInvalidConfig,
		},
		"no settings, only itself as seed": {
			setup: func(n *node, cfg *Config) *Settings { cfg.Seeds = []string{n.gossip}; return nil },
			want:  ErrInvalidConfig,
		},
		"no settings, no AdoptSettings": {
			setup: func(n *node, cfg *Config) *Settings {
				cfg.Seeds = []string{"127.0.0.1:7199"}
				cfg.AdoptSettings = nil
				return nil
			},
			want: ErrInvalidConfig,
		},
		"invalid settings": {
			setup: func(n *node, cfg *Config) *Settings { s := testSettings(0); return &s },
			want:  ErrInvalidConfig,
		},
		"persisted table says removed": {
			setup: func(n *node, cfg *Config) *Settings {
				b, _ := encodeTable([]Entry{{ID: n.id, GRPCAddr: n.grpc, GossipAddr: n.gossip, State: ring.Removed, Version: 4}})
				n.store.data = b
				s := testSettings(3)
				return &s
			},
			want: ErrRemoved,
		},
		"persisted table says left": {
			setup: func(n *node, cfg *Config) *Settings {
				b, _ := encodeTable([]Entry{{ID: n.id, GRPCAddr: n.grpc, GossipAddr: n.gossip, State: ring.Left, Version: 4}})
				n.store.data = b
				s := testSettings(3)
				return &s
			},
			want: ErrLeft,
		},
		"down longer than the grace period": {
			setup: func(n *node, cfg *Config) *Settings {
				b, _ := encodeTable([]Entry{{ID: n.id, GRPCAddr: n.grpc, GossipAddr: n.gossip, VNodes: 8, State: ring.Normal, Version: 4},
					{ID: "other", GRPCAddr: "127.0.0.1:1", GossipAddr: "127.0.0.1:2", VNodes: 8, State: ring.Normal, Version: 1}})
				n.store.data = b
				cfg.LastRunning, cfg.MaxDowntime = time.Now().Add(-time.Hour), time.Minute
				s := testSettings(3)
				return &s
			},
			want: ErrDownTooLong,
		},
	}
	i := 30
	for name, tc := range tests {
		i++
		t.Run(name, func(t *testing.T) {
			n := c.node(i)
			cfg := c.config(n)
			s := tc.setup(n, &cfg)
			m, err := New(cfg, s, n.store)
			if err == nil {
				_ = m.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("New = %v, want %v", err, tc.want)
			}
			if errors.Is(tc.want, ErrRemoved) && !isRemoved(err, n.id) {
				t.Fatalf("New = %v, want the removed error for %s", err, n.id)
			}
			// The transport was released: the address can be used again.
			tr, err := c.net.NewTransport(n.gossip)
			if err != nil {
				t.Fatalf("transport not released: %v", err)
			}
			_ = tr.Shutdown()
		})
	}
}

// A node down longer than the grace period keeps its place when it is
// the only member (nobody can have purged a tombstone it missed), and any
// node down for less does.
func TestNew_downTimeWithinLimitsKeepsItsPlace(t *testing.T) {
	c := newTestCluster(t)
	for i, tc := range []struct {
		name    string
		others  bool
		downFor time.Duration
	}{
		{"alone, down longer than grace", false, time.Hour},
		{"with others, down less than grace", true, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := c.node(40 + i)
			es := []Entry{{ID: n.id, GRPCAddr: n.grpc, GossipAddr: n.gossip, VNodes: 8, State: ring.Normal, Version: 4}}
			if tc.others {
				es = append(es, Entry{ID: "other", GRPCAddr: "127.0.0.1:1", GossipAddr: "127.0.0.1:2", VNodes: 8, State: ring.Normal, Version: 1})
			}
			n.store.data, _ = encodeTable(es)
			cfg := c.config(n)
			cfg.LastRunning, cfg.MaxDowntime = time.Now().Add(-tc.downFor), time.Minute
			s := testSettings(3)
			m, err := New(cfg, &s, n.store)
			if err != nil {
				t.Fatalf("New = %v", err)
			}
			_ = m.Close()
		})
	}
}

func TestMembership_Close_idempotentAndFlushes(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	c.bootstrap(n1)
	if err := n1.m.SetState(ring.Leaving); err != nil {
		t.Fatal(err)
	}
	if err := n1.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n1.m.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if es := n1.store.entries(t); len(es) != 1 || es[0].State != ring.Leaving {
		t.Fatalf("store after Close holds %v, want n1 leaving", es)
	}
	if err := n1.m.SetState(ring.Left); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetState after Close = %v, want ErrClosed", err)
	}
}

// SetState returns once the new state is saved: a node killed right after
// kvctl leave answered comes back leaving. A failed save is returned, and
// asking again saves it.
func TestMembership_SetState_savedOnReturn(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	c.bootstrap(n1)
	n1.store.mu.Lock()
	n1.store.fail = errors.New("disk full")
	n1.store.mu.Unlock()
	if err := n1.m.SetState(ring.Leaving); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("SetState with the store failing = %v, want the save error", err)
	}
	n1.store.mu.Lock()
	n1.store.fail = nil
	n1.store.mu.Unlock()
	if err := n1.m.SetState(ring.Leaving); err != nil {
		t.Fatal(err)
	}
	if es := n1.store.entries(t); len(es) != 1 || es[0].State != ring.Leaving {
		t.Fatalf("store after SetState holds %v, want n1 leaving", es)
	}
}

func TestMembership_Close_reportsSaveFailure(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	n1.store.fail = errors.New("disk full")
	c.bootstrap(n1)
	if err := n1.m.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close = %v, want the save error", err)
	}
}
