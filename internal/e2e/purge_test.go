package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCluster_downPastHintWindowAndGrace: n3 is down while keys are written
// and deleted, longer than the hint window (its hints are dropped) and
// longer than the tombstone grace period. Nothing is purged while it is
// down. Started again on its data it is refused (tombstones it missed
// could have been purged); started with an empty data dir it joins again,
// is filled, the deleted keys stay deleted, and then the tombstones are
// purged everywhere without anything coming back.
func TestCluster_downPastHintWindowAndGrace(t *testing.T) {
	const grace = 4 * time.Second
	c := launch(t, 3, "--anti-entropy-interval", "1s", "--max-hint-window", "1s", "--tombstone-grace", "4s")
	for i := 0; i < 10; i++ {
		c.must(1, "put", fmt.Sprintf("a%d", i), "v", "-c", "all")
	}
	c.kill9(3)
	for i := 0; i < 10; i++ {
		c.must(1+i%2, "put", fmt.Sprintf("b%d", i), "v", "-c", "quorum")
	}
	for i := 0; i < 5; i++ {
		c.must(1+i%2, "delete", fmt.Sprintf("a%d", i), "-c", "quorum")
	}
	deletedAt := time.Now()
	status := func(i int) map[string]any { return jsonOf(t, c.must(i, "-o", "json", "status")) }
	eventually(t, 20*time.Second, "hints for n3 dropped past the hint window", func() bool {
		return status(1)["hints_pending"] == float64(0) && status(2)["hints_pending"] == float64(0)
	})
	// Past the grace period: n3 has not confirmed the tombstones, so none
	// is purged. (Waiting for wall time is the point here.)
	eventually(t, 30*time.Second, "grace period over", func() bool { return time.Since(deletedAt) > grace+3*time.Second })
	for _, i := range []int{1, 2} {
		if ts := status(i)["tombstones"]; ts != float64(5) {
			t.Fatalf("n%d purged tombstones while n3 was down: %v left, want 5", i, ts)
		}
	}

	// n3, down past the grace period with the old values of a0..a4, is
	// refused: it joins again only as a new node, with an empty data dir.
	if out := c.scriptFails("start"); !strings.Contains(out, "more than --tombstone-grace") || !strings.Contains(out, "empty data dir") {
		t.Fatalf("n3 restarted past the grace period with its data:\n%s", out)
	}
	if err := os.RemoveAll(filepath.Join(c.dir, "n3", "data")); err != nil {
		t.Fatal(err)
	}
	c.script("start") // n3 joins again, empty
	eventually(t, time.Minute, "n3 normal again", func() bool { return c.members(1)["n3"].RingState == "normal" })
	if r := c.ctl(3, "repair", "--wait"); r.code != 0 {
		t.Fatalf("repair: %v", r)
	}
	for i := 0; i < 5; i++ {
		if r := c.ctl(3, "get", fmt.Sprintf("a%d", i), "-c", "one"); r.code != 1 {
			t.Fatalf("deleted a%d is back on n3: %v", i, r)
		}
	}
	for i := 0; i < 10; i++ {
		if got := c.must(3, "get", fmt.Sprintf("b%d", i), "-c", "one"); got != "v\n" {
			t.Fatalf("b%d on n3 after anti-entropy: %q", i, got)
		}
	}
	// Every replica now holds the tombstones: they are purged everywhere.
	took := eventually(t, 60*time.Second, "tombstones purged on every node, digests equal", func() bool {
		for i := 1; i <= 3; i++ {
			if status(i)["tombstones"] != float64(0) {
				return false
			}
		}
		ds := c.digests()
		return len(ds) == 3 && ds[0] == ds[1] && ds[1] == ds[2]
	})
	t.Logf("tombstones purged and digests equal %v after n3's repair", took)
	for i := 0; i < 5; i++ {
		for n := 1; n <= 3; n++ {
			if r := c.ctl(n, "get", fmt.Sprintf("a%d", i), "-c", "one"); r.code != 1 {
				t.Fatalf("purged a%d came back on n%d: %v", i, n, r)
			}
		}
	}
	c.must(3, "put", "after", "x", "-c", "all")
	if got := c.must(1, "get", "after", "-c", "one"); got != "x\n" {
		t.Fatalf("write through n3 after its return: %q", got)
	}
}
