package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// sampleReport runs two short workloads against the fake store.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	rep := &Report{Started: time.Now().UTC(), Config: ReportConfig{Workloads: []string{"a", "write"}, Consistency: []string{"one"}, Clients: 2, Keys: 10, Seed: *seed}}
	f := newFakeStore(0)
	load, err := Load(context.Background(), f, Config{Clients: 2, Keys: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep.Load = &load
	for _, w := range []Workload{WorkloadA, WorkloadWrite} {
		res, err := Run(context.Background(), f, Config{Workload: w, Consistency: "one", Clients: 2, Ops: 200, Keys: 10, Seed: *seed}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep.Results = append(rep.Results, res)
	}
	return rep
}

func TestReport_WriteJSON_hasEveryField(t *testing.T) {
	rep := sampleReport(t)
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	for _, k := range []string{"started", "config", "load", "results"} {
		if _, ok := out[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	results, _ := out["results"].([]any)
	if len(results) != 2 {
		t.Fatalf("results: %v", out["results"])
	}
	for _, r := range results {
		row := r.(map[string]any)
		// DESIGN.md's row, then ours.
		for _, k := range []string{"workload", "consistency", "ops", "ops_per_sec", "errors", "latency_us",
			"errors_by_kind", "operations", "loop", "clients", "distribution", "seconds", "series"} {
			if _, ok := row[k]; !ok {
				t.Errorf("result lacks %q: %v", k, row)
			}
		}
		lat, _ := row["latency_us"].(map[string]any)
		for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
			if _, ok := lat[k].(float64); !ok {
				t.Errorf("latency_us lacks %q: %v", k, lat)
			}
		}
		byKind, _ := row["errors_by_kind"].(map[string]any)
		for _, k := range []string{"level_not_met", "timeout", "other"} {
			if _, ok := byKind[k].(float64); !ok {
				t.Errorf("errors_by_kind lacks %q: %v", k, byKind)
			}
		}
		series, _ := row["series"].([]any)
		if len(series) == 0 {
			t.Fatalf("empty series: %v", row)
		}
		for _, k := range []string{"second", "ops_per_sec", "p99_us", "errors"} {
			if _, ok := series[0].(map[string]any)[k]; !ok {
				t.Errorf("series point lacks %q", k)
			}
		}
		if row["ops"].(float64) != 200 {
			t.Errorf("ops %v, want 200", row["ops"])
		}
	}
}

func TestReport_WriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport(t).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	t.Logf("\n%s", buf.String())
	// Header, load, a (all, read, update), write (all).
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6", len(lines))
	}
	for i, l := range lines {
		if len(l) != len(lines[0]) {
			t.Errorf("line %d is %d wide, the header %d: not aligned", i, len(l), len(lines[0]))
		}
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != strings.Join(TableHeader, " ") {
		t.Errorf("header %q", lines[0])
	}
	if !strings.Contains(lines[3], "read") || !strings.Contains(lines[4], "update") {
		t.Errorf("per-kind rows missing:\n%s", buf.String())
	}
}

func TestReport_WriteBenchfmt(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport(t).WriteBenchfmt(&buf); err != nil {
		t.Fatal(err)
	}
	var bench []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			bench = append(bench, l)
		}
	}
	if len(bench) != 2 {
		t.Fatalf("benchmark lines %q", bench)
	}
	// name, iterations, then value-unit pairs: the format benchstat reads.
	f := strings.Fields(bench[0])
	if f[0] != "BenchmarkKV/workload=a/consistency=one" || f[1] != "200" || len(f)%2 != 0 || f[3] != "ns/op" {
		t.Errorf("line %q", bench[0])
	}
}

func TestReport_WritePlot(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport(t).WritePlot(&buf); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if !strings.Contains(s, "<svg") || !strings.Contains(s, "workload a: throughput") || !strings.Contains(s, "workload write: p99 latency") {
		t.Errorf("not the expected SVG (%d bytes)", len(s))
	}
}

func TestProgressPrinter(t *testing.T) {
	p := Progress{Phase: "a/quorum", Elapsed: 3 * time.Second, Duration: 20 * time.Second, OpsPerSec: 1234, P99: 4500 * time.Microsecond, Errors: 2}
	var term, plain bytes.Buffer
	tp, pp := NewProgressPrinter(&term, true), NewProgressPrinter(&plain, false)
	for range 2 {
		tp.Report(p)
		pp.Report(p)
	}
	tp.Done()
	pp.Done()
	line := FormatProgress(p)
	for _, want := range []string{"a/quorum", "3s/20s", "1234 ops/s", "4.50ms", "errors 2"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress %q lacks %q", line, want)
		}
	}
	if got, want := term.String(), "\r\x1b[K"+line+"\r\x1b[K"+line+"\n"; got != want {
		t.Errorf("terminal: %q, want %q", got, want)
	}
	if got, want := plain.String(), line+"\n"+line+"\n"; got != want {
		t.Errorf("plain: %q, want %q", got, want)
	}
}
