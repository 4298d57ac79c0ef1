package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one `kvctl bench` invocation measured. Results is
// DESIGN.md's `bench` JSON: the run phase only, one row per workload and
// consistency level.
type Report struct {
	Started time.Time    `json:"started"`
	Config  ReportConfig `json:"config"`
	// Load is the load phase, when there was one.
	Load    *Result  `json:"load,omitempty"`
	Results []Result `json:"results"`
}

// ReportConfig is the command line a report came from, for reproducing it.
type ReportConfig struct {
	Workloads    []string `json:"workloads"`
	Consistency  []string `json:"consistency"`
	Clients      int      `json:"clients"`
	Duration     string   `json:"duration,omitempty"`
	Ops          int64    `json:"ops,omitempty"`
	Keys         int64    `json:"keys"`
	ValueSize    int      `json:"value_size"`
	Distribution string   `json:"distribution,omitempty"`
	Rate         float64  `json:"rate,omitempty"`
	Seed         uint64   `json:"seed"`
	Endpoints    []string `json:"endpoints,omitempty"`
}

// WriteJSON writes r as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// TableHeader is the header row of WriteTable.
var TableHeader = []string{"WORKLOAD", "CONSISTENCY", "OP", "OPS", "OPS/S", "ERRORS", "P50", "P90", "P99", "P99.9", "MAX"}

// WriteTable writes the results as an aligned table: one row per workload
// and level over all its operations ("all"), followed, for a workload that
// mixes kinds, by one row per kind. ERRORS is the total and, when not
// zero, by kind: level not met / timeout / other.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) error {
		_, err := io.WriteString(tw, strings.Join(cells, "\t")+"\t\n")
		return err
	}
	if err := row(TableHeader...); err != nil {
		return err
	}
	results := r.Results
	if r.Load != nil {
		results = append([]Result{*r.Load}, results...)
	}
	for _, res := range results {
		cells := []string{res.Workload, res.Consistency, "all", fmt.Sprint(res.Ops), fmt.Sprintf("%.0f", res.OpsPerSec),
			errorsCell(res.ErrorsByKind)}
		if err := row(append(cells, latencyCells(res.LatencyUS)...)...); err != nil {
			return err
		}
		if len(res.Operations) < 2 {
			continue
		}
		for _, op := range res.Operations {
			cells := []string{"", "", op.Op, fmt.Sprint(op.Ops), fmt.Sprintf("%.0f", float64(op.Ops)/max(res.Seconds, 1e-9)),
				errorsCell(op.ErrorKind)}
			if err := row(append(cells, latencyCells(op.LatencyUS)...)...); err != nil {
				return err
			}
		}
	}
	return tw.Flush()
}

func errorsCell(e ErrorCounts) string {
	if e.Total() == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%d/%d/%d)", e.Total(), e.LevelNotMet, e.Timeout, e.Other)
}

func latencyCells(l Latency) []string {
	return []string{FormatMicros(l.P50), FormatMicros(l.P90), FormatMicros(l.P99), FormatMicros(l.P999), FormatMicros(l.Max)}
}

// FormatMicros renders a latency in microseconds as milliseconds with two
// decimals ("1.25ms"), or "-" for zero.
func FormatMicros(us int64) string {
	if us == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", float64(us)/1000)
}

// WriteBenchfmt writes one line per result in Go's benchmark format, so
// `benchstat old.txt new.txt` compares two runs (run the command several
// times into one file for benchstat's statistics). The name carries the
// workload and level; ns/op is the inverse of the throughput, and the
// percentiles are extra units.
func (r *Report) WriteBenchfmt(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pkg: github.com/quorumkv/quorumkv/bench\n")
	fmt.Fprintf(&b, "clients: %d\nkeys: %d\nvalue-size: %d\nseed: %d\n", r.Config.Clients, r.Config.Keys, r.Config.ValueSize, r.Config.Seed)
	if r.Config.Rate > 0 {
		fmt.Fprintf(&b, "rate: %g\n", r.Config.Rate)
	}
	for _, res := range r.Results {
		nsPerOp := 0.0
		if res.OpsPerSec > 0 {
			nsPerOp = 1e9 / res.OpsPerSec
		}
		fmt.Fprintf(&b, "BenchmarkKV/workload=%s/consistency=%s\t%d\t%.0f ns/op\t%.1f ops/s\t%d p50-us\t%d p90-us\t%d p99-us\t%d p99.9-us\t%d max-us\t%d errors\n",
			res.Workload, res.Consistency, res.Ops, nsPerOp, res.OpsPerSec,
			res.LatencyUS.P50, res.LatencyUS.P90, res.LatencyUS.P99, res.LatencyUS.P999, res.LatencyUS.Max, res.Errors)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
