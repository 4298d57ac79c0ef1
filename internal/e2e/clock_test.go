package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readyz returns node p's /readyz status and body.
func (p *nodeProc) readyz(t *testing.T) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + p.metrics + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCluster_fastClockFenced: of three nodes, the one whose wall clock
// runs 5s ahead (--max-clock-offset 500ms) fences itself, not the others:
// /readyz 503 naming the clock on it, 200 on the others. A put sent to it
// does not come back later to override a put acknowledged through a
// healthy node: once hints have run, a QUORUM get on every node returns
// the later value.
func TestCluster_fastClockFenced(t *testing.T) {
	n1 := startNode(t, nodeOpts{})
	gossip := n1.args[indexOf(n1.args, "--gossip-addr")+1]
	n2 := startNode(t, nodeOpts{args: []string{"--node-id", "n2", "--join", gossip}})
	n3 := spawn(t, nodeOpts{args: []string{"--node-id", "n3", "--join", gossip, "--test-clock-offset", "5s"}})
	nodes := []*nodeProc{n1, n2, n3}

	eventually(t, 30*time.Second, "n3 fenced, n1 and n2 ready, every member normal", func() bool {
		if code, body := n3.readyz(t); code != http.StatusServiceUnavailable || !strings.Contains(body, "clock") {
			return false
		}
		for _, p := range nodes {
			r := kvctl(t, p.grpc, nil, "-o", "json", "members")
			var out struct{ Members []member }
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Members) != 3 {
				return false
			}
			for _, m := range out.Members {
				if m.State != "alive" || m.RingState != "normal" {
					return false
				}
			}
		}
		for _, p := range nodes[:2] {
			if code, _ := p.readyz(t); code != http.StatusOK {
				return false
			}
		}
		return true
	})
	code, body := n3.readyz(t)
	t.Logf("n3 /readyz: %d %s", code, strings.TrimSpace(body))
	if !strings.HasPrefix(body, "clock fenced: ") {
		t.Fatalf("n3 /readyz body %q, want one line starting with 'clock fenced: '", body)
	}

	// The put through the fast node is forwarded (exit 0) or refused
	// (exit 3); either way it must not win over the later put.
	r := kvctl(t, n3.grpc, nil, "put", "k", "through-the-fast-node", "-c", "quorum")
	t.Logf("put through n3: %v", r)
	if r.code != 0 && r.code != 3 {
		t.Fatalf("put through n3: %v, want forwarded (0) or refused (3)", r)
	}
	n1.must("put", "k", "later", "-c", "quorum")
	eventually(t, 30*time.Second, "no hint pending on any node", func() bool {
		for _, p := range nodes {
			r := kvctl(t, p.grpc, nil, "-o", "json", "status")
			if r.code != 0 {
				return false
			}
			var st struct {
				HintsPending float64 `json:"hints_pending"`
			}
			if json.Unmarshal([]byte(r.stdout), &st) != nil || st.HintsPending != 0 {
				return false
			}
		}
		return true
	})
	for i, p := range nodes {
		if got := p.must("get", "k", "-c", "quorum"); got != "later\n" {
			t.Fatalf("QUORUM get through n%d: %q, want later", i+1, got)
		}
	}
	for _, p := range nodes[:2] {
		if code, body := p.readyz(t); code != http.StatusOK {
			t.Fatalf("a healthy node is not ready: %d %q", code, body)
		}
	}
}
