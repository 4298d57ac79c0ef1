package node

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// dashboardMetricRE matches the metric names a PromQL expression of the
// dashboard may use: ours, gRPC's, Go's and the process's; promLabelsRE the
// label lists and matchers removed first, so that label names are not
// taken for metrics.
var (
	dashboardMetricRE = regexp.MustCompile(`\b(?:quorumkv|grpc|go|process)_[a-zA-Z0-9_:]*`)
	promLabelsRE      = regexp.MustCompile(`\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
)

// TestDashboard_MetricsExported checks that every metric the Grafana
// dashboard (deploy/grafana/quorumkv.json) queries is a family a node's
// registry exports, so the dashboard cannot drift from the code.
func TestDashboard_MetricsExported(t *testing.T) {
	fams := exportedFamilies(t)
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exported[f.GetName()+suffix] = true
			}
		}
	}

	b, err := os.ReadFile("../deploy/grafana/quorumkv.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if len(dash.Panels) == 0 {
		t.Fatal("dashboard has no panels")
	}
	check := func(where, expr string) {
		names := dashboardMetricRE.FindAllString(promLabelsRE.ReplaceAllString(expr, " "), -1)
		if len(names) == 0 {
			t.Errorf("%s: %q queries no metric", where, expr)
		}
		for _, name := range names {
			if !exported[name] {
				t.Errorf("%s: %q queries %s, which a node does not export", where, expr, name)
			}
		}
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check("panel "+p.Title, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if strings.HasPrefix(v.Definition, "label_values(") { // label_values(metric, label)
			check("variable "+v.Name, strings.SplitN(v.Definition, ",", 2)[0])
		}
	}
}
