package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCluster_idleStopIsPrompt: an idle cluster whose nodes hold open peer
// streams stops at once on SIGTERM. Each node used to wait its whole
// --shutdown-timeout for the peers' replica streams, which never end by
// themselves ("requests still in flight at the shutdown timeout").
func TestCluster_idleStopIsPrompt(t *testing.T) {
	c := launch(t, 3, "--shutdown-timeout", "60s")
	for i := 1; i <= 3; i++ {
		c.must(i, "put", "k", "v", "-c", "all") // every node opens streams to the others
	}
	begin := time.Now()
	out := c.script("stop")
	took := time.Since(begin)
	if strings.Contains(out, "killed") && !strings.Contains(out, "(0 killed") {
		t.Fatalf("stop had to kill nodes: %s", out)
	}
	// Far above a prompt stop (well under a second here), far below the
	// minute each node would otherwise wait.
	if took > 20*time.Second {
		t.Fatalf("stopping an idle cluster took %v", took)
	}
	for i := 1; i <= 3; i++ {
		log, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("n%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(log), "shutdown timeout") {
			t.Fatalf("n%d waited for its shutdown timeout:\n%s", i, log)
		}
	}
	t.Logf("idle 3-node cluster stopped in %v", took.Round(time.Millisecond))
}
