package bench

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestRun_workloadMixes(t *testing.T) {
	const ops = 20000
	for _, w := range Workloads {
		t.Run(w.Name, func(t *testing.T) {
			t.Logf("seed %d", *seed)
			f := newFakeStore(0)
			res, err := Run(context.Background(), f, Config{Workload: w, Consistency: "quorum", Clients: 4, Ops: ops, Keys: 1000, ValueSize: 16, Seed: *seed}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops != ops || res.Errors != 0 {
				t.Fatalf("ops %d, errors %d; want %d, 0", res.Ops, res.Errors, ops)
			}
			got := map[string]float64{}
			for _, op := range res.Operations {
				got[op.Op] = float64(op.Ops) / ops
			}
			for _, s := range w.Mix {
				// 5 standard deviations of a binomial share.
				tol := 5 * math.Sqrt(s.Fraction*(1-s.Fraction)/ops)
				if math.Abs(got[s.Kind.String()]-s.Fraction) > tol+1e-9 {
					t.Errorf("%s: share %.4f, want %.4f ± %.4f", s.Kind, got[s.Kind.String()], s.Fraction, tol)
				}
			}
			if len(got) != len(w.Mix) {
				t.Errorf("kinds issued %v, want exactly those of %v", got, w.Mix)
			}
			// What reached the store matches the kinds.
			shares := map[OpKind]float64{}
			for _, s := range w.Mix {
				shares[s.Kind] = s.Fraction
			}
			wantGets := (shares[OpRead] + shares[OpRMW]) * ops
			wantPuts := (shares[OpUpdate] + shares[OpInsert] + shares[OpRMW]) * ops
			if tol := 5*math.Sqrt(ops) + 1; math.Abs(float64(f.gets)-wantGets) > tol || math.Abs(float64(f.puts)-wantPuts) > tol {
				t.Errorf("store got %d gets and %d puts, want about %.0f and %.0f", f.gets, f.puts, wantGets, wantPuts)
			}
			if w.Name == "f" && f.ctxPut != int(math.Round(got["rmw"]*ops)) {
				t.Errorf("workload f: %d puts carried a context token, want one per rmw (%.0f)", f.ctxPut, got["rmw"]*ops)
			}
			if w.Sets != (f.sadds > 0) {
				t.Errorf("set adds %d for a workload with Sets=%v", f.sadds, w.Sets)
			}
		})
	}
}

func TestLoad_writesEveryKeyOnce(t *testing.T) {
	f := newFakeStore(0)
	res, err := Load(context.Background(), f, Config{Workload: WorkloadC, Clients: 8, Duration: time.Hour, Keys: 500, Seed: *seed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 500 || f.puts != 500 || len(f.keys) != 500 {
		t.Fatalf("load: %d ops, %d puts on %d keys; want 500 each", res.Ops, f.puts, len(f.keys))
	}
	for i := range int64(500) {
		if f.keys[string(Key(i))] != 1 {
			t.Fatalf("key %s written %d times", Key(i), f.keys[string(Key(i))])
		}
	}
}

func TestParseWorkload(t *testing.T) {
	for _, w := range Workloads {
		got, err := ParseWorkload(" " + w.Name + " ")
		if err != nil || got.Name != w.Name {
			t.Errorf("ParseWorkload(%q) = %q, %v", w.Name, got.Name, err)
		}
		total := 0.0
		for _, s := range w.Mix {
			total += s.Fraction
		}
		if math.Abs(total-1) > 1e-9 {
			t.Errorf("workload %s: shares sum to %g", w.Name, total)
		}
	}
	if _, err := ParseWorkload("e"); err == nil {
		t.Error("ParseWorkload(e): no error (scans are not supported)")
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := Config{Workload: WorkloadA, Clients: 1, Ops: 1, Keys: 1}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no workload":      func(c *Config) { c.Workload = Workload{} },
		"no clients":       func(c *Config) { c.Clients = 0 },
		"no bound":         func(c *Config) { c.Ops = 0 },
		"no keys":          func(c *Config) { c.Keys = 0 },
		"negative rate":    func(c *Config) { c.Rate = -1 },
		"negative size":    func(c *Config) { c.ValueSize = -1 },
		"bad distribution": func(c *Config) { c.Distribution = "pareto" },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
