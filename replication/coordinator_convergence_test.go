package replication_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

func TestCoordinator_concurrentBlindWrites(t *testing.T) {
	tests := map[string]struct {
		policy conflict.Policy
		// isolated cuts every node off from the others while the two
		// writes run, so neither coordinator has seen the other's write.
		isolated bool
		level    replication.Level
	}{
		"lww, isolated":           {conflict.LWW, true, replication.One},
		"lww, racing":             {conflict.LWW, false, replication.Quorum},
		"siblings, isolated":      {conflict.Siblings, true, replication.One},
		"siblings, racing":        {conflict.Siblings, false, replication.Quorum},
		"siblings, racing at ALL": {conflict.Siblings, false, replication.All},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{Policy: tc.policy})
			ctx := testCtx(t)
			if tc.isolated {
				c.Net.Partition("n1", "n2")
				c.Net.Partition("n1", "n3")
				c.Net.Partition("n2", "n3")
			}
			key := []byte("k")
			writers := map[string][]byte{"n1": []byte("v1"), "n2": []byte("v2")}
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make(chan error, len(writers))
			for id, v := range writers {
				wg.Go(func() {
					<-start
					_, err := c.Node(id).Coord.Put(ctx, key, v, nil, tc.level)
					errs <- err
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("put: %v", err)
				}
			}
			var winner []byte
			if tc.isolated {
				s1, s2 := liveSibling(t, c, "n1", key), liveSibling(t, c, "n2", key)
				winner = s2.Value
				if isLater(s1, s2) {
					winner = s1.Value
				}
				c.Net.HealAll()
			}
			awaitConverged(t, c)

			for _, id := range c.IDs() {
				vs, err := c.Values(id, key)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case tc.policy == conflict.Siblings && !sameSet(valueStrings(vs), []string{"v1", "v2"}):
					t.Fatalf("%s holds %q, want both siblings", id, vs)
				case tc.policy == conflict.LWW && len(vs) != 1:
					t.Fatalf("%s holds %q, want one value", id, vs)
				case tc.policy == conflict.LWW && winner != nil && string(vs[0]) != string(winner):
					t.Fatalf("%s holds %q, want the later write %q", id, vs, winner)
				}
				if tc.policy == conflict.LWW && winner == nil {
					winner = vs[0]
				}
			}
			for _, id := range c.IDs() {
				res, err := c.Node(id).Coord.Get(ctx, key, replication.All)
				if err != nil {
					t.Fatalf("get via %s: %v", id, err)
				}
				want := []string{string(winner)}
				if tc.policy == conflict.Siblings {
					want = []string{"v1", "v2"}
				}
				if !sameSet(valueStrings(res.Values), want) {
					t.Fatalf("get via %s: %q, want %q", id, res.Values, want)
				}
				if res.Receipt.ReadRepair {
					t.Fatalf("get via %s repaired converged replicas", id)
				}
			}
		})
	}
}

func TestCoordinator_readModifyWrite_clockBehind(t *testing.T) {
	tests := map[string]struct {
		// isolated cuts A off from every other node from before v1 is
		// written until after v2 is: A learns of v1 only through the token
		// it writes with.
		isolated bool
		// tokenVia is the node whose read gives the token.
		tokenVia string
		// blind writes v2 without the token: the control case, in which
		// A's slow clock makes v2 lose to v1.
		blind bool
	}{
		"read via A":                   {tokenVia: "n1"},
		"read via B, A isolated":       {isolated: true, tokenVia: "n2"},
		"blind, A isolated (v1 stays)": {isolated: true, tokenVia: "n2", blind: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{Policy: conflict.LWW})
			ctx := testCtx(t)
			a, b := c.Node("n1"), c.Node("n2")
			a.SetSkew(-300 * time.Millisecond)
			key := []byte("k")
			level := replication.Quorum
			if tc.isolated {
				c.Net.Partition("n1", "n2")
				c.Net.Partition("n1", "n3")
				level = replication.One
			}
			if _, err := b.Coord.Put(ctx, key, []byte("v1"), nil, replication.Quorum); err != nil {
				t.Fatal(err)
			}
			v1 := liveSibling(t, c, "n2", key)
			read, err := c.Node(tc.tokenVia).Coord.Get(ctx, key, replication.Quorum)
			if err != nil || !slices.Equal(valueStrings(read.Values), []string{"v1"}) {
				t.Fatalf("get via %s: %q, %v", tc.tokenVia, read.Values, err)
			}
			token := read.Token
			if tc.blind {
				token = nil
			}
			if _, err := a.Coord.Put(ctx, key, []byte("v2"), token, level); err != nil {
				t.Fatal(err)
			}
			v2 := liveSibling(t, c, "n1", key)
			switch above := v1.TS.Less(v2.TS); {
			case !tc.blind && !above:
				t.Fatalf("v2 stamped %v, v1 %v: a write with the token must be stamped above what it read", v2.TS, v1.TS)
			case tc.blind && above:
				t.Fatalf("v2 stamped %v above v1 %v without the token: A's clock is not behind", v2.TS, v1.TS)
			}
			c.Net.HealAll()
			awaitConverged(t, c)

			want := "v2"
			if tc.blind {
				want = "v1"
			}
			for _, id := range c.IDs() {
				if !c.HoldsValue(id, key, []byte(want)) {
					vs, _ := c.Values(id, key)
					t.Fatalf("%s holds %q, want %s", id, vs, want)
				}
				for _, level := range coordLevels {
					res, err := c.Node(id).Coord.Get(ctx, key, level)
					if err != nil || !slices.Equal(valueStrings(res.Values), []string{want}) {
						t.Fatalf("%v get via %s: %q, %v; want %s", level, id, res.Values, err, want)
					}
				}
			}
		})
	}
}

func TestCoordinator_Get_oneRepairsInBackground(t *testing.T) {
	tests := map[string]struct {
		via       string
		wantFound bool // what the ONE read answers: its coordinator's copy
	}{
		"via an up-to-date replica": {"n1", true},
		"via the stale replica":     {"n3", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Every ONE read is followed by a repair: the draw (0.5) is
			// below the chance.
			c := newCluster(t, replicationtest.ClusterConfig{Coordinator: repairChance(0.6, 0.5)})
			ctx := testCtx(t)
			key, value := []byte("k"), []byte("v")
			c.Kill("n3")
			if _, err := c.Node("n1").Coord.Put(ctx, key, value, nil, replication.Quorum); err != nil {
				t.Fatal(err)
			}
			// n3 comes back stale; nobody delivers hints.
			c.Revive("n3")
			if c.Converged() {
				t.Fatal("n3 is not stale")
			}
			res, err := c.Node(tc.via).Coord.Get(ctx, key, replication.One)
			if err != nil || res.Found != tc.wantFound {
				t.Fatalf("ONE get via %s: %+v, %v", tc.via, res, err)
			}
			replicationtest.Eventually(t, awaitTimeout, c.Converged, "the ONE read did not repair n3: digests %x", c.Digests())
			if !c.HoldsValue("n3", key, value) {
				t.Fatal("n3 was not repaired")
			}
			for _, n := range c.Nodes {
				if s := n.Coord.HintStats(); s.Delivered != 0 {
					t.Fatalf("%s delivered hints: the repair must be the read's", n.ID)
				}
			}
		})
	}
}

// repairChance sets the coordinators' read repair chance and makes every
// draw return draw.
func repairChance(chance, draw float64) func(string, *replication.Config) {
	return func(_ string, cfg *replication.Config) {
		cfg.ReadRepairChance = chance
		cfg.Rand = func() float64 { return draw }
	}
}

// A ONE read reads one replica; it repairs the others only when the draw
// falls below --read-repair-chance (never, for a negative chance).
func TestCoordinator_Get_oneRepairsOnlyByChance(t *testing.T) {
	for name, chance := range map[string]float64{"draw above the chance": 0.4, "never": -1} {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{Coordinator: repairChance(chance, 0.5)})
			ctx := testCtx(t)
			key := []byte("k")
			c.Kill("n3")
			if _, err := c.Node("n1").Coord.Put(ctx, key, []byte("v"), nil, replication.Quorum); err != nil {
				t.Fatal(err)
			}
			c.Revive("n3")
			var reads atomic.Int64
			for _, id := range []string{"n2", "n3"} {
				c.Node(id).Replica.SetHook(func(_ context.Context, op string, _ []byte) error {
					if op == "read" {
						reads.Add(1)
					}
					return nil
				})
			}
			for range 20 {
				if res, err := c.Node("n1").Coord.Get(ctx, key, replication.One); err != nil || !res.Found {
					t.Fatalf("ONE get: %+v, %v", res, err)
				}
			}
			// Close waits for everything the coordinator started in the
			// background: a repair would have read the other replicas.
			_ = c.Node("n1").Coord.Close()
			if n := reads.Load(); n != 0 {
				t.Fatalf("20 ONE reads read other replicas %d times, want 0", n)
			}
			if c.HoldsValue("n3", key, []byte("v")) {
				t.Fatal("n3 was repaired")
			}
		})
	}
}
