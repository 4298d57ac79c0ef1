package replication_test

import (
	"testing"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

// RepairStats counts the replica copies read repair brought up to date:
// before an ALL read answered (blocking), after a ONE read (background).
func TestCoordinator_RepairStats(t *testing.T) {
	tests := map[string]struct {
		level                    replication.Level
		wantBlocking, wantBackgr uint64
	}{
		"ALL read repairs before answering": {replication.All, 1, 0},
		"ONE read repairs in background":    {replication.One, 0, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Every ONE read is followed by a background repair.
			c := newCluster(t, replicationtest.ClusterConfig{Coordinator: repairChance(1, 0.5)})
			ctx := testCtx(t)
			key := []byte("k")
			c.Kill("n3")
			if _, err := c.Node("n1").Coord.Put(ctx, key, []byte("v"), nil, replication.Quorum); err != nil {
				t.Fatal(err)
			}
			c.Revive("n3") // stale; nobody delivers hints
			if s := c.Node("n1").Coord.RepairStats(); s != (replication.RepairStats{}) {
				t.Fatalf("RepairStats before any read = %+v, want zero", s)
			}
			if _, err := c.Node("n1").Coord.Get(ctx, key, tc.level); err != nil {
				t.Fatalf("%v get: %v", tc.level, err)
			}
			replicationtest.Eventually(t, awaitTimeout, c.Converged, "the read did not repair n3: digests %x", c.Digests())
			want := replication.RepairStats{Blocking: tc.wantBlocking, Background: tc.wantBackgr}
			replicationtest.Eventually(t, awaitTimeout, func() bool { return c.Node("n1").Coord.RepairStats() == want },
				"RepairStats = %+v, want %+v", c.Node("n1").Coord.RepairStats(), want)
		})
	}
}
