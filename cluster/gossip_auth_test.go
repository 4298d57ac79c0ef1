package cluster

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

// intruder is a bare memberlist process on the test network, outside the
// cluster: it records whatever state or message it receives, and offers a
// forged member table in its own push/pull state.
type intruder struct {
	ml *memberlist.Memberlist

	mu     sync.Mutex
	learnt [][]byte // remote states and messages received
	forged []byte   // what LocalState returns
}

func (d *intruder) NodeMeta(int) []byte { return nil }
func (d *intruder) NotifyMsg(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.learnt = append(d.learnt, append([]byte(nil), b...))
}
func (d *intruder) GetBroadcasts(int, int) [][]byte { return nil }
func (d *intruder) LocalState(bool) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.forged
}
func (d *intruder) MergeRemoteState(b []byte, _ bool) { d.NotifyMsg(b) }

func (d *intruder) received() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.learnt)
}

// newIntruder starts an intruder at addr with the cluster's label and the
// given keys (nil: no encryption); the test shuts it down.
func (c *testCluster) newIntruder(addr string, keys [][]byte, forged []byte) *intruder {
	c.t.Helper()
	tr, err := c.net.NewTransport(addr)
	if err != nil {
		c.t.Fatal(err)
	}
	d := &intruder{forged: forged}
	mc := memberlist.DefaultLANConfig()
	mc.Name = "intruder"
	mc.Label = "test"
	mc.Transport = tr
	mc.Delegate = d
	mc.TCPTimeout = c.timings.probe
	mc.LogOutput = discard{}
	if len(keys) > 0 {
		kr, err := memberlist.NewKeyring(keys, keys[0])
		if err != nil {
			c.t.Fatal(err)
		}
		mc.Keyring = kr
	}
	if d.ml, err = memberlist.Create(mc); err != nil {
		_ = tr.Shutdown()
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = d.ml.Shutdown() })
	return d
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// A memberlist process without the cluster's gossip key, or with another
// key, learns nothing from the cluster (no table, no settings, no secret,
// not even its members) and its forged messages, which mark a live member
// removed, change nothing. With the key (the control), the same forgery
// is taken: the key is what authenticates gossip.
func TestGossip_withoutTheKeyLearnsAndChangesNothing(t *testing.T) {
	wrongKey := []byte("not-the-cluster-gossip-key-32byt")
	for name, keys := range map[string][][]byte{
		"no key":    nil,
		"wrong key": {wrongKey},
	} {
		t.Run(name, func(t *testing.T) {
			c := newTestCluster(t)
			n1, n2, n3, all := c.threeConverged()

			e3, _ := entry(n1, "n3")
			e3.State, e3.Version = ring.Removed, e3.Version+100
			forged := encodeGossip(c.settings.ClusterID, []Entry{e3})
			in := c.newIntruder("127.0.0.1:7199", keys, forged)

			// Joining (push/pull both ways) fails and teaches nothing.
			if n, err := in.ml.Join([]string{n1.gossip, n3.gossip}); err == nil || n != 0 {
				t.Fatalf("intruder joined %d nodes (err %v)", n, err)
			}
			if got := in.received(); got != 0 {
				t.Fatalf("intruder received %d states or messages", got)
			}
			if got := in.ml.NumMembers(); got != 1 {
				t.Fatalf("intruder knows %d members", got)
			}
			// Forged broadcasts to every node.
			for _, n := range all {
				if err := in.ml.SendToAddress(memberlist.Address{Addr: n.gossip, Name: n.id}, forged); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range all {
				if c.net.Packets("127.0.0.1:7199", n.gossip) == 0 {
					t.Fatalf("no packet reached %s", n.id)
				}
			}

			// A legitimate change queued behind the forgeries reaches
			// every node: by then they have handled them.
			forgeryChangedNothing(t, all, n2, n3)
			for _, n := range all {
				if liveness(n, "intruder") != "absent" {
					t.Fatalf("%s lists the intruder", n.id)
				}
			}
			if in.received() != 0 {
				t.Fatal("intruder received gossip")
			}
		})
	}

	t.Run("control: with the key", func(t *testing.T) {
		c := newTestCluster(t)
		n1 := c.node(1)
		n3 := c.node(3, n1)
		c.bootstrap(n1)
		c.start(n3, nil)
		eventually(t, converge, "converged", func() error { return converged([]*node{n1, n3}, "n1", "n3") })
		e3, _ := entry(n1, "n3")
		e3.State, e3.Version = ring.Removed, e3.Version+100
		in := c.newIntruder("127.0.0.1:7199", c.keys, nil)
		if err := in.ml.SendToAddress(memberlist.Address{Addr: n3.gossip, Name: n3.id},
			encodeGossip(c.settings.ClusterID, []Entry{e3})); err != nil {
			t.Fatal(err)
		}
		if err := recvErr(t, n3, converge); !errors.Is(err, ErrRemoved) {
			t.Fatalf("n3 error = %v, want removed", err)
		}
	})
}

// Without a gossip key, gossip is not authenticated: a forged removal of a
// live node (the node itself included) is ignored, by broadcast or by
// push/pull, while the removal of a dead node by an operator still
// spreads.
func TestGossip_unencryptedIgnoresRemovalOfLiveNodes(t *testing.T) {
	c := newTestCluster(t)
	c.keys = nil
	n1, n2, n3, all := c.threeConverged()

	e3, _ := entry(n1, "n3")
	e3.State, e3.Version = ring.Removed, e3.Version+100
	forged := encodeGossip(c.settings.ClusterID, []Entry{e3})
	in := c.newIntruder("127.0.0.1:7199", nil, forged)
	// Unencrypted gossip lets it in: push/pull carries the forgery.
	if _, err := in.ml.Join([]string{n1.gossip, n3.gossip}); err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if err := in.ml.SendToAddress(memberlist.Address{Addr: n.gossip, Name: n.id}, forged); err != nil {
			t.Fatal(err)
		}
	}
	forgeryChangedNothing(t, all, n2, n3)

	// A genuine removal of a dead node spreads.
	_ = in.ml.Shutdown()
	c.stop(n3)
	eventually(t, detect, "n3 dead on n1 and n2", func() error {
		for _, n := range all[:2] {
			if l := liveness(n, "n3"); l != LivenessDead {
				return fmt.Errorf("%s sees n3 %s", n.id, l)
			}
		}
		return nil
	})
	if err := n1.m.Remove("n3"); err != nil {
		t.Fatal(err)
	}
	eventually(t, converge, "n3 removed on n2", func() error {
		if e, _ := entry(n2, "n3"); e.State != ring.Removed {
			return fmt.Errorf("n2 sees n3 %v", e.State)
		}
		return nil
	})
}

// forgeryChangedNothing makes a legitimate change (n2 becomes normal) that
// reaches every node after the forgeries sent before it, then checks that
// the forged removal of n3 was taken by none and n3 still runs.
func forgeryChangedNothing(t *testing.T, all []*node, n2, n3 *node) {
	t.Helper()
	if err := n2.m.SetState(ring.Normal); err != nil {
		t.Fatal(err)
	}
	eventually(t, converge, "n2 normal everywhere", func() error {
		for _, n := range all {
			if e, _ := entry(n, "n2"); e.State != ring.Normal {
				return fmt.Errorf("%s sees n2 %v", n.id, e.State)
			}
		}
		return nil
	})
	select {
	case err := <-n3.m.Err():
		t.Fatalf("n3 stopped: %v", err)
	default:
	}
	for _, n := range all {
		if e, _ := entry(n, "n3"); e.State == ring.Removed {
			t.Fatalf("%s took the forged removal: %+v", n.id, e)
		}
	}
}
