package node

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/conflict"
)

// Client key requests are counted by op, level and outcome, and the
// members and ownership gauges follow the membership.
func TestNode_clientRequestMetrics(t *testing.T) {
	t.Cleanup(func() { awaitMemberlistGone(t) })
	tn := start(t, testConfig(t, t.TempDir(), "n1"))
	m := tn.n.metrics
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New([]string{tn.n.grpcAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if _, err := c.Put(ctx, []byte("k"), []byte("v"), client.WithConsistency(client.Quorum)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get(ctx, []byte("missing"), client.WithConsistency(client.One)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, []byte(""), []byte("v"), client.WithConsistency(client.All)); err == nil {
		t.Fatal("put of an empty key succeeded")
	}
	if _, err := c.SAdd(ctx, []byte("k"), [][]byte{[]byte("m")}); err == nil {
		t.Fatal("sadd to a register succeeded")
	}
	if _, err := c.Put(ctx, []byte("big"), make([]byte, tn.n.cfg.MaxValueBytes+1)); err == nil {
		t.Fatal("put over the value limit succeeded")
	}
	for reason, want := range map[string]float64{refusedType: 1, refusedSize: 1, refusedClockOffset: 0} {
		if got := value(t, m.reg, "quorumkv_objects_refused_total", reason); got != want {
			t.Errorf("objects_refused_total{%s} = %v, want %v", reason, got, want)
		}
	}
	if got := value(t, m.reg, "grpc_server_handled_total", "OK", "Put", "quorumkv.v1.KV", "unary"); got != 3 {
		t.Errorf("grpc_server_handled_total{Put, OK} = %v, want 3", got)
	}
	for _, tc := range []struct {
		op, level, outcome string
		want               float64
	}{
		{"put", "quorum", "ok", 3},
		{"get", "one", "not_found", 1},
		{"get", "one", "ok", 0},
		{"put", "all", "invalid", 1},
		{"put", "all", "level_not_met", 0},
	} {
		if got := value(t, m.reg, "quorumkv_client_requests_total", tc.level, tc.op, tc.outcome); got != tc.want {
			t.Errorf("client_requests_total{%s,%s,%s} = %v, want %v", tc.op, tc.level, tc.outcome, got, tc.want)
		}
	}
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		switch f.GetName() {
		case "quorumkv_client_requests_total":
			if n := len(f.GetMetric()); n != 6*3*7 {
				t.Errorf("client_requests_total has %d series, want every op x level x outcome (126)", n)
			}
		case "quorumkv_ownership_ratio":
			if v := f.GetMetric()[0].GetGauge().GetValue(); v != 1 {
				t.Errorf("ownership of the only node = %v, want 1", v)
			}
		case "quorumkv_members":
			for _, s := range f.GetMetric() {
				want := 0.0
				if s.GetLabel()[0].GetValue() == "alive" && s.GetLabel()[1].GetValue() == "normal" {
					want = 1
				}
				if v := s.GetGauge().GetValue(); v != want {
					t.Errorf("members%v = %v, want %v", s.GetLabel(), v, want)
				}
			}
		}
	}
}

// value returns the value of the counter or gauge series of family name
// whose label values, in label name order, are values.
func value(t *testing.T, reg *prometheus.Registry, name string, values ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			ls := s.GetLabel() // sorted by name
			if len(ls) != len(values) {
				continue
			}
			for i, l := range ls {
				if l.GetValue() != values[i] {
					continue series
				}
			}
			if s.GetCounter() != nil {
				return s.GetCounter().GetValue()
			}
			return s.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, values)
	return 0
}

// A get that answers with siblings is counted, with the siblings it
// returned.
func TestNode_siblingMetrics(t *testing.T) {
	t.Cleanup(func() { awaitMemberlistGone(t) })
	cfg := testConfig(t, t.TempDir(), "n1")
	cfg.Conflict = conflict.Siblings
	tn := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New([]string{tn.n.grpcAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, v := range []string{"a", "b"} { // blind writes: concurrent
		if _, err := c.Put(ctx, []byte("k"), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Put(ctx, []byte("single"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k", "single"} {
		if _, err := c.Get(ctx, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if got := value(t, tn.n.metrics.reg, "quorumkv_sibling_reads_total"); got != 1 {
		t.Errorf("sibling_reads_total = %v, want 1", got)
	}
	if got := value(t, tn.n.metrics.reg, "quorumkv_siblings_returned_total"); got != 2 {
		t.Errorf("siblings_returned_total = %v, want 2", got)
	}
}
