package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCluster_wipedNodeRestoredWithoutReads(t *testing.T) {
	c := launch(t, 3)
	for i := 0; i < 300; i++ {
		c.must(1+i%3, "put", fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i), "-c", "all")
	}
	c.must(1, "sadd", "set", "a", "b", "c", "-c", "all")
	c.kill9(3)
	if err := os.RemoveAll(filepath.Join(c.dir, "n3", "data")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.script("start") // n3 comes back with an empty data dir under its id
	r := c.ctl(3, "repair", "--wait")
	if r.code != 0 {
		t.Fatalf("repair --wait: %v", r)
	}
	took := eventually(t, time.Minute, "equal digests after the wipe", func() bool {
		ds := c.digests()
		return len(ds) == 3 && ds[0] == ds[1] && ds[1] == ds[2]
	})
	t.Logf("wiped n3 restored: equal digests %v after its restart (%v after the repair)", time.Since(start), took)
	st := jsonOf(t, c.must(3, "-o", "json", "status"))
	if st["keys"] != float64(301) {
		t.Fatalf("n3 holds %v keys, want 301", st["keys"])
	}
	rounds, ok := st["last_anti_entropy"].([]any)
	if !ok || len(rounds) != 2 {
		t.Fatalf("last_anti_entropy: %v", st["last_anti_entropy"])
	}
	r0 := rounds[0].(map[string]any)
	for _, f := range []string{"peer", "time", "partitions_compared", "keys_exchanged"} {
		if _, ok := r0[f]; !ok {
			t.Fatalf("round lacks %q: %v", f, r0)
		}
	}
	if _, err := time.Parse(time.RFC3339, r0["time"].(string)); err != nil {
		t.Fatalf("round time not RFC 3339: %v", r0["time"])
	}
	// A write through the restored node after its restart is kept.
	c.must(3, "put", "after", "x", "-c", "all")
	c.kill9(2)
	r = c.ctl(1, "repair", "--wait")
	checkResult(t, r, 3, []string{"repair: failed with 1 of 2 peers (n2: "}, []string{"repair --wait"})
	if strings.Contains(r.stderr, "n3") {
		t.Fatalf("repair with a peer down: %v", r)
	}
}
