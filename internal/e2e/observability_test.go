package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/quorumkv/quorumkv/client"
)

// scrape parses node i's /metrics with the Prometheus text parser.
func (c *launched) scrape(i int) map[string]*dto.MetricFamily {
	c.t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.base+2100+i))
	if err != nil {
		c.t.Fatalf("scrape n%d: %v", i, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		c.t.Fatalf("parse n%d's metrics: %v", i, err)
	}
	return fams
}

// counter returns the value of family name's series with exactly labels
// in fams; it fails the test when there is no such series (every series
// is exported from the start, at zero).
func counter(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric family %s", name)
	}
series:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue series
			}
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// gauge returns the value of the unlabelled gauge name in fams.
func gauge(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok || len(f.GetMetric()) != 1 {
		t.Fatalf("no single-series metric family %s", name)
	}
	return f.GetMetric()[0].GetGauge().GetValue()
}

// sum adds counter over nodes.
func (c *launched) sum(nodes []int, name string, labels map[string]string) float64 {
	c.t.Helper()
	total := 0.0
	for _, i := range nodes {
		total += counter(c.t.(*testing.T), c.scrape(i), name, labels)
	}
	return total
}

// TestCluster_observability: on a real 3-node cluster, the client request
// counters summed over the nodes count each client request exactly once,
// a failed ALL write counts once as level_not_met and as a quorum failure,
// and status --cluster lists every member and finds the replicas in sync
// after writes at ALL.
func TestCluster_observability(t *testing.T) {
	c := launch(t, 3)
	all := []int{1, 2, 3}
	putQuorumOK := map[string]string{"op": "put", "level": "quorum", "outcome": "ok"}
	putAllNotMet := map[string]string{"op": "put", "level": "all", "outcome": "level_not_met"}
	allWriteFailures := map[string]string{"level": "all", "kind": "write"}

	before := c.sum(all, "quorumkv_client_requests_total", putQuorumOK)
	cl, err := client.New([]string{c.endpoint(1), c.endpoint(2), c.endpoint(3)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 100 {
		if _, err := cl.Put(ctx, []byte(fmt.Sprintf("q%d", i)), []byte("v"), client.WithConsistency(client.Quorum)); err != nil {
			t.Fatalf("QUORUM put %d: %v", i, err)
		}
	}
	if got := c.sum(all, "quorumkv_client_requests_total", putQuorumOK) - before; got != 100 {
		t.Fatalf("100 QUORUM puts grew put/quorum/ok by %v summed over the nodes, want 100", got)
	}

	for i := range 10 {
		c.must(1+i%3, "put", fmt.Sprintf("a%d", i), "v", "-c", "all")
	}
	type statusCluster struct {
		Members []map[string]any `json:"members"`
		InSync  bool             `json:"in_sync"`
	}
	var last statusCluster
	eventually(t, 30*time.Second, "status --cluster in sync with every member listed", func() bool {
		r := c.ctl(2, "-o", "json", "status", "--cluster")
		if r.code != 0 {
			t.Fatalf("status --cluster: %v", r)
		}
		last = statusCluster{}
		if err := json.Unmarshal([]byte(r.stdout), &last); err != nil {
			t.Fatalf("status --cluster -o json: %v: %q", err, r.stdout)
		}
		return last.InSync && len(last.Members) == 3
	})
	for i, m := range last.Members {
		if m["id"] != fmt.Sprintf("n%d", i+1) || m["state"] != "alive" || m["ring_state"] != "normal" || m["keys"] != 110.0 || len(m["digest"].(string)) != 32 {
			t.Fatalf("member %d: %v", i, m)
		}
	}

	notMet := c.sum(all, "quorumkv_client_requests_total", putAllNotMet)
	failures := c.sum(all, "quorumkv_quorum_failures_total", allWriteFailures)
	c.kill9(3)
	r := c.ctl(1, "put", "after-kill", "x", "-c", "all")
	checkResult(t, r, 3, []string{"ALL write"}, []string{"put", "-c", "all"})
	if got := c.sum(all[:2], "quorumkv_client_requests_total", putAllNotMet) - notMet; got != 1 {
		t.Fatalf("a failed ALL write grew put/all/level_not_met by %v, want 1", got)
	}
	if got := c.sum(all[:2], "quorumkv_quorum_failures_total", allWriteFailures) - failures; got != 1 {
		t.Fatalf("a failed ALL write grew quorum failures{all, write} by %v, want 1", got)
	}
	r = c.ctl(1, "-o", "json", "status", "--cluster")
	var after statusCluster
	if err := json.Unmarshal([]byte(r.stdout), &after); err != nil || r.code != 0 {
		t.Fatalf("status --cluster with n3 killed: %v", r)
	}
	if after.InSync || len(after.Members) != 3 || after.Members[2]["digest"] != "" {
		t.Fatalf("status --cluster with n3 killed: %+v", after)
	}

	// Writes n3 misses leave hints; once it is back they are delivered:
	// pending falls to zero and delivered grows by as many.
	for i := range 20 {
		c.must(1+i%2, "put", fmt.Sprintf("h%d", i), "v", "-c", "quorum")
	}
	survivors := all[:2]
	pendingOf := func() float64 {
		n := 0.0
		for _, i := range survivors {
			n += gauge(t, c.scrape(i), "quorumkv_hints_pending")
		}
		return n
	}
	// The write to n3 that fails after each answer leaves its hint
	// asynchronously: await all of them.
	delivered := c.sum(survivors, "quorumkv_hints_delivered_total", map[string]string{})
	var pending float64
	eventually(t, 30*time.Second, "a hint for each write n3 missed", func() bool {
		pending = pendingOf()
		return pending >= 21 // the failed ALL write and the 20 QUORUM writes
	})
	c.script("start") // restarts n3
	eventually(t, 60*time.Second, "hints delivered to n3", func() bool { return pendingOf() == 0 })
	if got := c.sum(survivors, "quorumkv_hints_delivered_total", map[string]string{}) - delivered; got != pending {
		t.Fatalf("%v hints were pending and %v delivered", pending, got)
	}
}
