package cluster

import (
	"errors"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

var partitionFlag = flag.Duration("cluster.partition", 0, "how long TestMembership_longPartitionHeals keeps the partition (0: 2m, or 15s with -short)")

// A node cut off from the others for much longer than memberlist remembers
// dead nodes (GossipToTheDeadTime, 2s here) rejoins by itself once the
// network heals: memberlist alone would never contact it again, the
// reconnect loop does. Changes made on both sides during the partition
// meet.
func TestMembership_longPartitionHeals(t *testing.T) {
	hold := *partitionFlag
	if hold == 0 {
		hold = 2 * time.Minute
		if testing.Short() {
			hold = 15 * time.Second
		}
	}
	c := newTestCluster(t)
	n1, n2, n3, all := c.threeConverged()
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
		return converged(all, "n1", "n2", "n3")
	})

	t.Logf("cutting n3 off for %v (memberlist forgets dead nodes after %v)", hold, fast.toTheDead)
	start := time.Now()
	c.net.Cut(n3.gossip, n1.gossip)
	c.net.Cut(n3.gossip, n2.gossip)
	eventually(t, detect, "both sides see the other dead", func() error {
		for _, p := range [][2]*node{{n1, n3}, {n2, n3}, {n3, n1}, {n3, n2}} {
			if l := liveness(p[0], p[1].id); l != LivenessDead {
				return fmt.Errorf("%s sees %s %s", p[0].id, p[1].id, l)
			}
		}
		return nil
	})
	// Both sides change the table while apart.
	if err := n2.m.SetState(ring.Leaving); err != nil {
		t.Fatal(err)
	}
	if err := n3.m.SetState(ring.Leaving); err != nil {
		t.Fatal(err)
	}

	// Hold the partition, then check that memberlist had forgotten the
	// other side: over the last seconds no packet (probe, gossip) was even
	// attempted across the cut, while the reconnect loop kept dialling.
	window := 3 * fast.toTheDead
	if rest := hold - time.Since(start) - window; rest > 0 {
		time.Sleep(rest)
	}
	pairs := [][2]*node{{n1, n3}, {n3, n1}, {n2, n3}, {n3, n2}}
	packets := make([]uint64, len(pairs))
	dials := make([]uint64, len(pairs))
	for i, p := range pairs {
		packets[i] = c.net.Packets(p[0].gossip, p[1].gossip)
		dials[i] = c.net.Dials(p[0].gossip, p[1].gossip)
	}
	time.Sleep(window)
	for i, p := range pairs {
		if got := c.net.Packets(p[0].gossip, p[1].gossip); got != packets[i] {
			t.Errorf("memberlist of %s still sends packets to %s after %v apart: it had not forgotten it", p[0].id, p[1].id, time.Since(start))
		}
		if got := c.net.Dials(p[0].gossip, p[1].gossip); got == dials[i] {
			t.Errorf("%s did not try to reconnect to %s in the last %v", p[0].id, p[1].id, window)
		}
	}
	for _, n := range all {
		if n.m.Ring().Load() == nil || len(entriesOf(n)) != 3 {
			t.Fatalf("%s lost its table or ring during the partition", n.id)
		}
	}

	healed := time.Now()
	c.net.HealAll()
	t.Logf("healed after %v", healed.Sub(start).Round(time.Second))
	eventually(t, converge, "converged after the heal", func() error {
		for _, n := range all {
			for _, id := range []string{"n2", "n3"} {
				if e, _ := entry(n, id); e.State != ring.Leaving {
					return fmt.Errorf("%s sees %s %v", n.id, id, e.State)
				}
			}
		}
		return converged(all, "n1", "n2", "n3")
	})
	t.Logf("converged %v after the heal", time.Since(healed).Round(time.Millisecond))
	select {
	case err := <-n3.m.Err():
		t.Fatalf("n3 reported %v", err)
	default:
	}
	if errors.Is(n3.m.SetState(ring.Left), ErrNotJoined) {
		t.Fatal("n3 is not joined after the heal")
	}
}
