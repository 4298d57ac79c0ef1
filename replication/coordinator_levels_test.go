package replication_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

// checkWriteReceipt checks the receipt of a write that met its level with
// every replica up: who coordinated, the level and its requirement, and
// that every replica is acknowledged or still pending, applied "all" when
// all acknowledged. The coordinator is always among the acknowledged (the
// answer waits for its own copy), not always the first: its copy becomes
// durable while the others are sent.
func checkWriteReceipt(t *testing.T, r replication.Receipt, coord string, level replication.Level, required int, replicas []string) {
	t.Helper()
	if r.Coordinator != coord || r.Level != level || r.Required != required {
		t.Errorf("receipt coordinator %s level %v required %d, want %s %v %d", r.Coordinator, r.Level, r.Required, coord, level, required)
	}
	if !slices.Contains(r.Acknowledged, coord) {
		t.Errorf("acknowledged %v: the answer waits for the coordinator's own copy", r.Acknowledged)
	}
	if len(r.Acknowledged) < required {
		t.Errorf("acknowledged %v: fewer than the %d the level requires", r.Acknowledged, required)
	}
	if len(r.Failed) != 0 || r.HintsWritten != 0 || r.ReadRepair {
		t.Errorf("failed %v, hints %d, read repair %v: want none", r.Failed, r.HintsWritten, r.ReadRepair)
	}
	if all := append(slices.Clone(r.Acknowledged), r.Pending...); !sameSet(all, replicas) {
		t.Errorf("acknowledged %v + pending %v, want every replica %v once", r.Acknowledged, r.Pending, replicas)
	}
	switch want := replication.AppliedPartial; {
	case len(r.Acknowledged) == len(replicas):
		if r.Applied != replication.AppliedAll {
			t.Errorf("applied %v with every replica acknowledged, want all", r.Applied)
		}
	case r.Applied != want:
		t.Errorf("applied %v with %v acknowledged, want %v", r.Applied, r.Acknowledged, want)
	}
}

func TestCoordinator_PutGet_everyLevelThroughEveryNode(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	ids := c.IDs()
	required := map[replication.Level]int{replication.One: 1, replication.Quorum: 2, replication.All: 3}
	for _, writer := range ids {
		for _, wl := range coordLevels {
			for _, rl := range coordLevels {
				t.Run(fmt.Sprintf("write %v via %s, read %v", wl, writer, rl), func(t *testing.T) {
					ctx := testCtx(t)
					key := []byte("k/" + t.Name())
					value := []byte("v/" + t.Name())
					r, err := c.Node(writer).Coord.Put(ctx, key, value, nil, wl)
					if err != nil {
						t.Fatalf("put: %v", err)
					}
					checkWriteReceipt(t, r, writer, wl, required[wl], ids)

					// R + W > N: every read sees the write at once. Otherwise
					// only the writer is sure to (it reads itself first);
					// the others once the replica writes still in flight
					// when it answered have landed.
					overlap := required[wl]+required[rl] > len(ids)
					for _, reader := range append([]string{writer}, ids...) {
						if !overlap && reader != writer {
							replicationtest.Eventually(t, awaitTimeout, func() bool { return c.HoldsValue(reader, key, value) },
								"%s never got the write", reader)
						}
						res, err := c.Node(reader).Coord.Get(ctx, key, rl)
						if err != nil {
							t.Fatalf("get via %s: %v", reader, err)
						}
						if !res.Found || !slices.Equal(valueStrings(res.Values), []string{string(value)}) {
							t.Fatalf("get via %s: found %v values %q, want %q", reader, res.Found, res.Values, value)
						}
						rr := res.Receipt
						if rr.Coordinator != reader || rr.Level != rl || rr.Required != required[rl] ||
							len(rr.Acknowledged) < required[rl] || rr.Acknowledged[0] != reader || len(rr.Failed) != 0 {
							t.Errorf("read receipt via %s: %+v", reader, rr)
						}
						if rr.Applied != 0 {
							t.Errorf("read receipt says applied %v: reads apply nothing", rr.Applied)
						}
						if len(res.Token) == 0 {
							t.Errorf("get via %s returned no context token", reader)
						}
					}
				})
			}
		}
	}
}

func TestCoordinator_Put_receiptPending(t *testing.T) {
	tests := map[string]struct {
		level       replication.Level
		slow        []string // replicas n1's writes reach late
		wantAcked   []string // in any order
		wantPending []string
	}{
		// A ONE write is answered once the coordinator's own copy is
		// durable: the other two, slower, are still in flight.
		"one":    {replication.One, []string{"n2", "n3"}, []string{"n1"}, []string{"n2", "n3"}},
		"quorum": {replication.Quorum, []string{"n3"}, []string{"n1", "n2"}, []string{"n3"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{})
			for _, id := range tc.slow {
				c.Net.SetDelay("n1", id, 300*time.Millisecond)
			}
			key, value := []byte("k"), []byte("v")
			// The caller goes away as soon as it is answered: the replica
			// writes in flight continue on their own context.
			ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
			r, err := c.Node("n1").Coord.Put(ctx, key, value, nil, tc.level)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if !sameSet(r.Acknowledged, tc.wantAcked) || !sameSet(r.Pending, tc.wantPending) {
				t.Fatalf("acknowledged %v pending %v, want %v %v", r.Acknowledged, r.Pending, tc.wantAcked, tc.wantPending)
			}
			if r.Applied != replication.AppliedPartial || len(r.Failed) != 0 || r.HintsWritten != 0 {
				t.Fatalf("applied %v failed %v hints %d, want partial, none, 0", r.Applied, r.Failed, r.HintsWritten)
			}
			for _, id := range tc.slow {
				replicationtest.Eventually(t, awaitTimeout, func() bool { return c.HoldsValue(id, key, value) },
					"the pending replica write to %s never landed", id)
			}
			if s := c.Node("n1").Coord.HintStats(); s.Written != 0 {
				t.Fatalf("hints written %d for a slow but successful replica", s.Written)
			}
		})
	}
}

func TestCoordinator_Put_receiptHintsWritten(t *testing.T) {
	tests := map[string]struct {
		level replication.Level
		down  []string
		// holdLocal holds n1's own write until every hint is stored: the
		// failures reach n1 before its own acknowledgement.
		holdLocal bool
		// wantHints is what the receipt counts: the hints written before the
		// answer.
		wantHints int
		// wantStored is how many hints n1 holds once every replica write
		// has ended.
		wantStored int
	}{
		"all, one down":     {replication.All, []string{"n3"}, false, 1, 1},
		"quorum, two down":  {replication.Quorum, []string{"n2", "n3"}, false, 2, 2},
		"quorum, none down": {replication.Quorum, nil, false, 0, 0},
		// ONE is met by n1's own acknowledgement, and the receipt counts
		// the hints written by then: every one, here.
		"one, two down, local write slow": {replication.One, []string{"n2", "n3"}, true, 2, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{Staged: true})
			for _, id := range tc.down {
				c.Kill(id)
			}
			key := []byte("k")
			n1 := c.Node("n1")
			n1.Staged.Hold(tc.holdLocal)
			done := make(chan replication.Receipt, 1)
			go func() {
				r, _ := n1.Coord.Put(testCtx(t), key, []byte("v"), nil, tc.level)
				done <- r
			}()
			if tc.holdLocal {
				replicationtest.Eventually(t, awaitTimeout, func() bool { return hintsLeft(t, c) == tc.wantStored },
					"%d hints stored, want %d", hintsLeft(t, c), tc.wantStored)
				if err := n1.Staged.Release(); err != nil {
					t.Fatal(err)
				}
			}
			r := <-done
			if r.HintsWritten != tc.wantHints {
				t.Fatalf("receipt hints_written %d, want %d (receipt %+v)", r.HintsWritten, tc.wantHints, r)
			}
			replicationtest.Eventually(t, awaitTimeout, func() bool {
				return int(c.Node("n1").Coord.HintStats().Written) == tc.wantStored && hintsLeft(t, c) == tc.wantStored
			}, "hints: stats %+v, stored %d, want %d", c.Node("n1").Coord.HintStats(), hintsLeft(t, c), tc.wantStored)
			for _, id := range tc.down {
				hs, err := c.Node("n1").Engine.Hints(id, 0)
				if err != nil || len(hs) != 1 || string(hs[0].Key) != string(key) {
					t.Fatalf("hints for %s: %v %v, want one for %q", id, hs, err, key)
				}
			}
		})
	}
}
