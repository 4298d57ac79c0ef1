package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestKvctlBench_threeNodes runs `kvctl bench` for a few seconds against a
// real three-node cluster started by the make cluster launcher and checks
// its JSON: one row per workload and level, DESIGN.md's fields, successful
// operations, no errors, a per-second series, and progress on stderr only.
func TestKvctlBench_threeNodes(t *testing.T) {
	c := launch(t, 3)
	endpoints := strings.Join([]string{c.endpoint(1), c.endpoint(2), c.endpoint(3)}, ",")
	r := kvctl(t, endpoints, nil, "--timeout", "5s", "-o", "json", "bench", "--load", "--keys", "500",
		"--workload", "a,sadd", "-c", "quorum,all", "--duration", "2s", "--clients", "8")
	if r.code != 0 {
		t.Fatalf("kvctl bench: %v", r)
	}
	var out struct {
		Load struct {
			Ops    int64 `json:"ops"`
			Errors int64 `json:"errors"`
		} `json:"load"`
		Results []struct {
			Workload    string               `json:"workload"`
			Consistency string               `json:"consistency"`
			Ops         int64                `json:"ops"`
			OpsPerSec   float64              `json:"ops_per_sec"`
			Errors      *int64               `json:"errors"`
			LatencyUS   map[string]int64     `json:"latency_us"`
			Operations  []map[string]any     `json:"operations"`
			Series      []map[string]float64 `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("stdout is not the bench JSON: %v\n%s", err, r.stdout)
	}
	if out.Load.Ops != 500 || out.Load.Errors != 0 {
		t.Errorf("load: %d ops, %d errors; want 500, 0", out.Load.Ops, out.Load.Errors)
	}
	var got []string
	for _, res := range out.Results {
		got = append(got, res.Workload+"/"+res.Consistency)
		if res.Ops == 0 || res.OpsPerSec <= 0 || res.Errors == nil || *res.Errors != 0 {
			t.Errorf("%s/%s: ops %d, ops/s %.0f, errors %v", res.Workload, res.Consistency, res.Ops, res.OpsPerSec, res.Errors)
		}
		for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
			if res.LatencyUS[k] <= 0 {
				t.Errorf("%s/%s: latency_us.%s = %d", res.Workload, res.Consistency, k, res.LatencyUS[k])
			}
		}
		if res.LatencyUS["p50"] > res.LatencyUS["p99"] || res.LatencyUS["p99"] > res.LatencyUS["max"] {
			t.Errorf("%s/%s: percentiles out of order: %v", res.Workload, res.Consistency, res.LatencyUS)
		}
		if len(res.Series) < 2 {
			t.Errorf("%s/%s: series %v, want a point per second", res.Workload, res.Consistency, res.Series)
		}
		if want := map[string]int{"a": 2, "sadd": 1}[res.Workload]; len(res.Operations) != want {
			t.Errorf("%s/%s: operations %v, want %d kinds", res.Workload, res.Consistency, res.Operations, want)
		}
	}
	if strings.Join(got, " ") != "a/quorum a/all sadd/quorum sadd/all" {
		t.Errorf("results %v", got)
	}
	if !strings.Contains(r.stderr, "bench a/quorum") || strings.Contains(r.stderr, "error: ") {
		t.Errorf("stderr: %q", r.stderr)
	}
}
