package replication_test

import (
	"slices"
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
		"blind via the once fast node":   {via: "n3"},
		"token via the once fast node":   {via: "n3", withToken: true},
		"token via a healthy node":       {via: "n1", withToken: true},
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
