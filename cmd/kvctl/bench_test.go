package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client/clienttest"
)

// benchRun runs kvctl bench in-process; unlike invocation.run it expects
// progress lines on stderr.
func benchRun(t *testing.T, endpoint string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	argv := append([]string{"--endpoints", endpoint}, args...)
	code := run(context.Background(), argv, e)
	res := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("kvctl %q -> %d\nstdout: %s\nstderr: %s", argv, res.code, res.stdout, res.stderr)
	return res
}

func TestBench_badUsage(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"workload":     {[]string{"--workload", "a,e"}, []string{"--workload", `"e"`, "a|b|c|d|f|write|sadd"}},
		"consistency":  {[]string{"-c", "one,two"}, []string{"--consistency", `"two"`, "one, quorum or all"}},
		"distribution": {[]string{"--distribution", "pareto"}, []string{"--distribution", "uniform, zipfian or latest"}},
		"clients":      {[]string{"--clients", "0"}, []string{"--clients", "at least 1"}},
		"rate":         {[]string{"--rate", "-5"}, []string{"--rate"}},
		"keys":         {[]string{"--keys", "0"}, []string{"--keys"}},
		"no bound":     {[]string{"--duration", "0"}, []string{"--duration, --ops"}},
		"benchfmt":     {[]string{"-o", "json", "--benchfmt"}, []string{"--benchfmt", "-o json"}},
		"plot":         {[]string{"--plot", "out.png"}, []string{"--plot", ".svg"}},
		"argument":     {[]string{"extra"}, []string{"no arguments"}},
	} {
		t.Run(name, func(t *testing.T) {
			res := kvctl(t, srv.Addr(), append([]string{"bench"}, tc.args...)...)
			if res.code != exitUsage {
				t.Fatalf("exit %d, want %d", res.code, exitUsage)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr %q lacks %q", res.stderr, w)
				}
			}
			if len(srv.Requests()) != 0 {
				t.Errorf("a bad command line sent %d requests", len(srv.Requests()))
			}
		})
	}
}

func TestBench_noEndpoint(t *testing.T) {
	res := kvctl(t, clienttest.DeadAddr(t), "--timeout", "200ms", "bench", "--ops", "10")
	if res.code != exitNoEndpoint {
		t.Fatalf("exit %d, want %d", res.code, exitNoEndpoint)
	}
}

func TestBench_json(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	dir := t.TempDir()
	plot, report := filepath.Join(dir, "out.svg"), filepath.Join(dir, "out.json")
	res := benchRun(t, srv.Addr(), "-o", "json", "bench", "--load", "--keys", "50", "--ops", "100", "--clients", "1",
		"--workload", "a,write,sadd", "-c", "ONE,all", "--plot", plot, "--report", report)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	var out struct {
		Load    *json.RawMessage
		Results []map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("stdout is not one JSON object: %v", err)
	}
	if out.Load == nil {
		t.Error("no load phase in the report")
	}
	var combos []string
	for _, r := range out.Results {
		for _, k := range []string{"workload", "consistency", "ops", "ops_per_sec", "errors", "latency_us", "series"} {
			if _, ok := r[k]; !ok {
				t.Errorf("result lacks %q", k)
			}
		}
		var lat map[string]int64
		if err := json.Unmarshal(r["latency_us"], &lat); err != nil || len(lat) != 5 || lat["p50"] <= 0 {
			t.Errorf("latency_us %s: %v", r["latency_us"], err)
		}
		var w, c string
		_ = json.Unmarshal(r["workload"], &w)
		_ = json.Unmarshal(r["consistency"], &c)
		var ops, errs int
		_ = json.Unmarshal(r["ops"], &ops)
		_ = json.Unmarshal(r["errors"], &errs)
		if ops+errs != 100 || errs != 0 {
			t.Errorf("%s/%s: %d ops, %d errors; want 100, 0", w, c, ops, errs)
		}
		combos = append(combos, w+"/"+c)
	}
	if got := strings.Join(combos, " "); got != "a/one a/all write/one write/all sadd/one sadd/all" {
		t.Errorf("results %s", got)
	}
	// Progress on stderr, one plain line per report, never an error.
	if !strings.Contains(res.stderr, "bench a/one") || strings.Contains(res.stderr, "error: ") || strings.Contains(res.stderr, "\r") {
		t.Errorf("stderr %q", res.stderr)
	}
	if b, err := os.ReadFile(plot); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("plot: %v", err)
	}
	if b, err := os.ReadFile(report); err != nil || !json.Valid(b) {
		t.Errorf("report: %v", err)
	}
}

func TestBench_tableAndBenchfmt(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	res := benchRun(t, srv.Addr(), "bench", "--ops", "50", "--clients", "2", "--workload", "b")
	if res.code != 0 || !strings.HasPrefix(strings.TrimSpace(res.stdout), "WORKLOAD") || !strings.Contains(res.stdout, "update") {
		t.Fatalf("table: exit %d, stdout %q", res.code, res.stdout)
	}
	res = benchRun(t, srv.Addr(), "bench", "--ops", "50", "--clients", "2", "--workload", "c", "-c", "one", "--benchfmt")
	if res.code != 0 || !strings.Contains(res.stdout, "BenchmarkKV/workload=c/consistency=one\t50\t") {
		t.Fatalf("benchfmt: exit %d, stdout %q", res.code, res.stdout)
	}
}

func TestBench_interruptedPrintsWhatItMeasured(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	code := run(ctx, []string{"--endpoints", srv.Addr(), "-o", "json", "bench", "--duration", "1h", "--clients", "2"}, e)
	t.Logf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	if code != exitOther {
		t.Fatalf("exit %d, want %d", code, exitOther)
	}
	var out struct{ Results []struct{ Ops int64 } }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.Results) != 1 || out.Results[0].Ops == 0 {
		t.Fatalf("stdout: %v, %+v", err, out)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "error: ") || !strings.Contains(last, "results so far") {
		t.Errorf("last stderr line %q", last)
	}
}
