package node

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

var update = flag.Bool("update", false, "rewrite the metrics list in README.md (TestMetricsDoc)")

// metricsDocRE matches the generated metrics list in README.md.
var metricsDocRE = regexp.MustCompile(`(?s)(<!-- metrics:begin[^\n]*-->\n).*?(<!-- metrics:end -->)`)

// TestMetricsDoc checks that README.md lists every quorumkv_ metric family
// a node exports, each with its help line, as generated from a node's
// registry; -update rewrites the list.
func TestMetricsDoc(t *testing.T) {
	fams := exportedFamilies(t)
	var b strings.Builder
	b.WriteString("| metric | type | meaning |\n|---|---|---|\n")
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "quorumkv_") {
			continue
		}
		if len(f.GetMetric()) == 0 {
			t.Errorf("%s has no series: every family must be exported from the start", f.GetName())
		}
		labels := ""
		if m := f.GetMetric(); len(m) > 0 && len(m[0].GetLabel()) > 0 {
			var names []string
			for _, l := range m[0].GetLabel() {
				names = append(names, l.GetName())
			}
			labels = "{" + strings.Join(names, ", ") + "}"
		}
		fmt.Fprintf(&b, "| `%s%s` | %s | %s |\n", f.GetName(), labels, strings.ToLower(f.GetType().String()), f.GetHelp())
	}
	const readme = "../README.md"
	old, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	if !metricsDocRE.Match(old) {
		t.Fatalf("%s has no metrics:begin/metrics:end markers", readme)
	}
	updated := []byte(metricsDocRE.ReplaceAllStringFunc(string(old), func(m string) string {
		sub := metricsDocRE.FindStringSubmatch(m)
		return sub[1] + b.String() + sub[2]
	}))
	if string(updated) == string(old) {
		return
	}
	if *update {
		if err := os.WriteFile(readme, updated, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's metrics list is out of date: run go test ./node -run TestMetricsDoc -update\nwant:\n%s", b.String())
}

// exportedFamilies builds a node (not served) and gathers its registry:
// every family a node exports from the start. The families by peer have a
// series for each peer; one, n2, stands in.
func exportedFamilies(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	t.Cleanup(func() { awaitMemberlistGone(t) })
	n, err := newNode(testConfig(t, t.TempDir(), "n1"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	peers := func() []string { return []string{"n2"} }
	n.metrics.components.peers, n.metrics.components.aePeers = peers, peers
	fams, err := n.metrics.reg.Gather()
	n.close()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}
