package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestKvnode_metricsEndpoints: --metrics-addr serves /healthz, /readyz and
// Prometheus /metrics that count the requests served.
func TestKvnode_metricsEndpoints(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.must("put", "k", "v")
	c := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := c.Get("http://" + n.metrics + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := get(path); code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
	}
	code, body := get("/metrics")
	for _, want := range []string{`quorumkv_client_requests_total{level="quorum",op="put",outcome="ok"} 1`, `quorumkv_client_requests_total{level="all",op="get",outcome="ok"} 0`, "quorumkv_keys 1", "quorumkv_storage_commits_total"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("/metrics (%d) lacks %q", code, want)
		}
	}
}
