package replication_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
	"github.com/quorumkv/quorumkv/storage"
)

// Riak's KV679, for a set: n1 coordinates an add of x with dot (a, c); n2
// and n3 acknowledge it while n1's own copy is not yet durable, and n1
// crashes before its fsync, so its copy lacks the add. Its leases survive,
// so a restart with the same actor mints (a, c') with c' > c: its next add
// of the key would carry a context covering (a, c) without x, and every
// replica merging it would drop x, an acknowledged add. A start not
// preceded by a clean shutdown renews the actor (the node does it at
// start; Cluster.Restart here), so the next add is concurrent with the
// lost one and x survives everywhere.
func TestCoordinator_SetAdd_lostLocalWriteKV679(t *testing.T) {
	tests := map[string]struct {
		renew       bool
		wantMembers []string
	}{
		"actor renewed at the unclean restart": {true, []string{"x", "y"}},
		// The control: without the renewal the scenario does lose x, so
		// the case above tests the renewal and nothing else.
		"actor kept: the acknowledged add is lost": {false, []string{"y"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{Staged: true})
			ctx := testCtx(t)
			a := c.Node("n1")
			key := []byte("kv679/set")
			actor := a.Dots.Actor()

			// The add of x is acknowledged by n2 and n3 while n1's own
			// write is staged, not durable.
			a.Staged.Hold(true)
			type outcome struct {
				r   replication.Receipt
				err error
			}
			added := make(chan outcome, 1)
			go func() {
				r, err := a.Coord.SetAdd(ctx, key, [][]byte{[]byte("x")}, replication.Quorum)
				added <- outcome{r, err}
			}()
			var first conflict.Dot
			holds := func(id string) bool {
				_, err := c.Node(id).Engine.Get(key)
				return err == nil
			}
			replicationtest.Eventually(t, awaitTimeout, func() bool { return holds("n2") && holds("n3") },
				"n2 and n3 did not get the add while n1's own write was held")
			for _, id := range []string{"n2", "n3"} {
				first = addDot(t, c.Node(id).Engine, key, "x")
				if first.Actor != actor {
					t.Fatalf("%s holds x with dot %v, want actor %v", id, first, actor)
				}
			}

			// n1 crashes before its fsync: its copy lacks the add. n2 and
			// n3 meet QUORUM: the add is acknowledged.
			if n := a.Staged.Crash(errors.New("lost in a crash before its fsync")); n != 1 {
				t.Fatalf("%d staged writes lost, want 1", n)
			}
			a.Staged.Hold(false)
			got := <-added
			if got.err != nil {
				t.Fatalf("QUORUM sadd x: %v", got.err)
			}
			if r := got.r; !sameSet(r.Acknowledged, []string{"n2", "n3"}) || failedReason(r, "n1") == "" {
				t.Fatalf("receipt %+v: want n2 and n3 acknowledged, n1 failed", r)
			}
			if _, err := a.Engine.Get(key); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("n1's engine after the crash: %v, want the key absent", err)
			}
			c.Restart(t, "n1", tc.renew)
			if renewed := a.Dots.Actor() != actor; renewed != tc.renew {
				t.Fatalf("actor renewed: %v, want %v", renewed, tc.renew)
			}

			if _, err := a.Coord.SetAdd(ctx, key, [][]byte{[]byte("y")}, replication.All); err != nil {
				t.Fatalf("ALL sadd y after the restart: %v", err)
			}
			if second := addDot(t, c.Node("n2").Engine, key, "y"); second.Actor == first.Actor && second.Counter <= first.Counter {
				t.Fatalf("second add %v does not follow the lost %v: the scenario is not KV679's", second, first)
			}
			res, err := a.Coord.SetMembers(ctx, key, replication.All)
			if err != nil {
				t.Fatalf("ALL smembers: %v", err)
			}
			if got := valueStrings(res.Members); !slices.Equal(got, tc.wantMembers) {
				t.Fatalf("ALL smembers: %q, want %q", got, tc.wantMembers)
			}
			for _, id := range c.IDs() {
				o, err := c.Node(id).Engine.Get(key)
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				if got := valueStrings(o.Members()); !slices.Equal(got, tc.wantMembers) {
					t.Fatalf("%s holds %q, want %q", id, got, tc.wantMembers)
				}
			}
		})
	}
}

// addDot returns the dot of the add of member that eng holds for key.
func addDot(t *testing.T, eng *storage.Engine, key []byte, member string) conflict.Dot {
	t.Helper()
	o, err := eng.Get(key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	for _, m := range o.Set.Members {
		if string(m.Value) == member && len(m.Stamps) == 1 {
			return m.Stamps[0].Dot
		}
	}
	t.Fatalf("%q does not hold %q with one add: %+v", key, member, o.Set)
	return conflict.Dot{}
}
