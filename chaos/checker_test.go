package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The checkers against hand-made histories: each violation they exist
// for is caught, and what is allowed passes.

// hb builds a history; times are in arbitrary units.
type hb struct{ ops []Op }

func (b *hb) add(op Op) *hb {
	op.ID = len(b.ops)
	if op.Of == 0 && op.F != "put" {
		op.Of = -1
	}
	b.ops = append(b.ops, op)
	return b
}

func sadd(key, m string, from, to int64, o Outcome) Op {
	return Op{F: "sadd", Key: key, Value: m, Of: -1, Invoke: from, Complete: to, Outcome: o}
}

func smembers(key string, from, to int64, members ...string) Op {
	return Op{F: "smembers", Key: key, Of: -1, Invoke: from, Complete: to, Outcome: OK, Read: members}
}

func finalSet(key string, members ...string) Op {
	op := smembers(key, 1000, 1001, members...)
	op.Final = true
	return op
}

func put(key, v string, from, to int64, o Outcome) Op {
	return Op{F: "put", Key: key, Value: v, Of: -1, Invoke: from, Complete: to, Outcome: o}
}

// rmw is a put with the context of get op of, which returned read.
func rmw(key, v string, of int, read []string, from, to int64, o Outcome) Op {
	return Op{F: "put", Key: key, Value: v, Of: of, Read: read, Invoke: from, Complete: to, Outcome: o}
}

func get(key string, from, to int64, values ...string) Op {
	return Op{F: "get", Key: key, Of: -1, Invoke: from, Complete: to, Outcome: OK, Read: values, Found: len(values) > 0}
}

func finalGet(key string, values ...string) Op {
	op := get(key, 1000, 1001, values...)
	op.Final = true
	return op
}

func TestCheckSet(t *testing.T) {
	for _, tc := range []struct {
		name                string
		ops                 []Op
		lost, unexp, recovd int
		problem             string // substring of a problem; empty: none
	}{
		{name: "acknowledged adds present", ops: []Op{sadd("s", "a", 0, 1, OK), sadd("s", "b", 2, 3, OK), smembers("s", 4, 5, "a", "b"), finalSet("s", "a", "b")}},
		{name: "acknowledged add missing", ops: []Op{sadd("s", "a", 0, 1, OK), sadd("s", "b", 2, 3, OK), finalSet("s", "a")}, lost: 1, problem: "lost: s member b"},
		{name: "member never added", ops: []Op{sadd("s", "a", 0, 1, OK), finalSet("s", "a", "z")}, unexp: 1, problem: "never added"},
		{name: "member whose add failed", ops: []Op{sadd("s", "a", 0, 1, Fail), finalSet("s", "a")}, unexp: 1, problem: "failed"},
		{name: "unknown add recovered or not", ops: []Op{sadd("s", "a", 0, 1, Indeterminate), sadd("s", "b", 0, 1, Indeterminate), finalSet("s", "a")}, recovd: 1},
		{name: "read misses an add acknowledged before it", ops: []Op{sadd("s", "a", 0, 1, OK), smembers("s", 2, 3), finalSet("s", "a")}, problem: "acknowledged before it started"},
		{name: "concurrent read may miss an add", ops: []Op{sadd("s", "a", 0, 5, OK), smembers("s", 2, 3), finalSet("s", "a")}},
		{name: "read misses what an earlier read returned", ops: []Op{sadd("s", "a", 0, 9, Indeterminate), smembers("s", 1, 2, "a"), smembers("s", 3, 4), finalSet("s", "a")}, recovd: 1, problem: "which op 1 had returned"},
		{name: "read returns a member never added", ops: []Op{smembers("s", 1, 2, "q"), finalSet("s")}, unexp: 1, problem: "read by op 0"},
		{name: "final read failed", ops: []Op{sadd("s", "a", 0, 1, OK), {ID: 1, F: "smembers", Key: "s", Final: true, Outcome: Fail, Err: "boom"}}, problem: "final read of s at ALL failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &hb{}
			for _, op := range tc.ops {
				b.add(op)
			}
			res := checkSet(b.ops)
			checkResult(t, res, tc.lost, tc.unexp, tc.problem)
			if res.Recovered != tc.recovd {
				t.Errorf("recovered %d, want %d", res.Recovered, tc.recovd)
			}
		})
	}
}

func checkResult(t *testing.T, res Result, lost, unexp int, problem string) {
	t.Helper()
	if res.Lost != lost || res.Unexpected != unexp {
		t.Errorf("lost %d, unexpected %d; want %d, %d (problems %q)", res.Lost, res.Unexpected, lost, unexp, res.Problems)
	}
	all := strings.Join(res.Problems, "\n")
	switch {
	case problem == "" && len(res.Problems) > 0:
		t.Errorf("want no problem, got %q", res.Problems)
	case problem != "" && !strings.Contains(all, problem):
		t.Errorf("want a problem containing %q, got %q", problem, res.Problems)
	}
}

func TestCheckRegister(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ops         []Op
		skewed      bool
		lost, unexp int
		problem     string
	}{
		{name: "sequential", ops: []Op{put("k", "a", 0, 1, OK), get("k", 2, 3, "a"), put("k", "b", 4, 5, OK), get("k", 6, 7, "b"), finalGet("k", "b")}},
		{name: "concurrent read sees old or new", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 2, 6, OK), get("k", 3, 4, "a"), get("k", 3, 5, "b"), finalGet("k", "b")}},
		{name: "stale read", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 2, 3, OK), get("k", 4, 5, "a"), finalGet("k", "b")}, problem: "not linearizable"},
		{name: "unknown write seen later", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 2, 3, Indeterminate), get("k", 10, 11, "b"), finalGet("k", "b")}},
		{name: "unknown write never seen", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 2, 3, Indeterminate), get("k", 10, 11, "a"), finalGet("k", "a")}},
		{name: "unknown write seen, then not", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 2, 3, Indeterminate), get("k", 4, 5, "b"), get("k", 6, 7, "a"), finalGet("k", "b")}, problem: "not linearizable"},
		{name: "failed write seen", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 2, 3, Fail), get("k", 4, 5, "b"), finalGet("k", "a")}, unexp: 1, problem: "failed"},
		{name: "value never written", ops: []Op{get("k", 4, 5, "zz"), finalGet("k")}, unexp: 1, problem: "never written"},
		{name: "siblings under lww", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 0, 1, OK), get("k", 4, 5, "a", "b"), finalGet("k", "b")}, problem: "2 values under lww"},
		{name: "final value older than an acknowledged write", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 2, 3, OK), finalGet("k", "a")}, lost: 1, problem: "lost: put 1"},
		{name: "skew: blind writes may be ordered by clocks", skewed: true, ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 2, 3, OK), get("k", 4, 5, "a"), finalGet("k", "a")}},
		{name: "skew: read-modify-write beats what it read", skewed: true, ops: []Op{put("k", "a", 0, 1, OK), get("k", 2, 3, "a"), rmw("k", "b", 1, []string{"a"}, 4, 5, OK), get("k", 6, 7, "a"), finalGet("k", "a")},
			lost: 1, problem: "read-modify-write 2"},
		{name: "skew: unknown read-modify-write may lose", skewed: true, ops: []Op{put("k", "a", 0, 1, OK), get("k", 2, 3, "a"), rmw("k", "b", 1, []string{"a"}, 4, 5, Indeterminate), get("k", 6, 7, "a"), finalGet("k", "a")}},
		{name: "final read failed", ops: []Op{put("k", "a", 0, 1, OK), {F: "get", Key: "k", Of: -1, Final: true, Outcome: Fail, Err: "boom"}}, problem: "final read of k at ALL failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &hb{}
			for i, op := range tc.ops {
				op.Process = i % 3
				b.add(op)
			}
			res := checkRegister(b.ops, CheckOptions{Skewed: tc.skewed, OutDir: t.TempDir(), LinearizabilityTimeout: 10 * time.Second})
			checkResult(t, res, tc.lost, tc.unexp, tc.problem)
		})
	}
}

func TestCheckSiblings(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ops         []Op
		lost, unexp int
		problem     string
	}{
		{name: "concurrent blind writes kept", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 0, 1, OK), finalGet("k", "a", "b")}},
		{name: "superseded by a read-modify-write", ops: []Op{put("k", "a", 0, 1, OK), get("k", 2, 3, "a"), rmw("k", "b", 1, []string{"a"}, 4, 5, OK), finalGet("k", "b")}},
		{name: "acknowledged value vanished", ops: []Op{put("k", "a", 0, 1, OK), put("k", "b", 0, 1, OK), finalGet("k", "b")}, lost: 1, problem: "lost: put 0"},
		{name: "superseded by an unknown write that took effect", ops: []Op{put("k", "a", 0, 1, OK), get("k", 2, 3, "a"), rmw("k", "b", 1, []string{"a"}, 4, 5, Indeterminate), finalGet("k", "b")}},
		{name: "unknown superseder vanished too", ops: []Op{put("k", "a", 0, 1, OK), get("k", 2, 3, "a"), rmw("k", "b", 1, []string{"a"}, 4, 5, Indeterminate), finalGet("k")}, lost: 1, problem: "lost: put 0"},
		{name: "failed superseder explains nothing", ops: []Op{put("k", "a", 0, 1, OK), get("k", 2, 3, "a"), rmw("k", "b", 1, []string{"a"}, 4, 5, Fail), finalGet("k")}, lost: 1, problem: "lost: put 0"},
		{name: "chain of supersessions", ops: []Op{put("k", "a", 0, 1, OK), get("k", 2, 3, "a"), rmw("k", "b", 1, []string{"a"}, 4, 5, Indeterminate), get("k", 6, 7, "b"), rmw("k", "c", 3, []string{"b"}, 8, 9, OK), finalGet("k", "c")}},
		{name: "read value still there", ops: []Op{put("k", "a", 0, 1, OK), get("k", 2, 3, "a"), rmw("k", "b", 1, []string{"a"}, 4, 5, OK), finalGet("k", "a", "b")}, unexp: 1, problem: "not superseded"},
		{name: "value never written", ops: []Op{finalGet("k", "q")}, unexp: 1, problem: "never written"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &hb{}
			for _, op := range tc.ops {
				b.add(op)
			}
			checkResult(t, checkSiblings(b.ops), tc.lost, tc.unexp, tc.problem)
		})
	}
}

func TestCheckConvergence(t *testing.T) {
	polls := 0
	eventually := []DigestFunc{
		func(context.Context) ([]byte, error) { return []byte{1}, nil },
		func(context.Context) ([]byte, error) {
			polls++
			if polls < 3 {
				return []byte{2}, nil
			}
			return []byte{1}, nil
		},
		func(context.Context) ([]byte, error) { return []byte{1}, nil },
	}
	healed := time.Now()
	if c := checkConvergence(context.Background(), []string{"n1", "n2", "n3"}, eventually, healed, 5*time.Second, time.Millisecond); !c.Converged || polls != 3 {
		t.Fatalf("want convergence at the third poll, got %+v after %d polls", c, polls)
	}
	never := []DigestFunc{
		func(context.Context) ([]byte, error) { return []byte{1}, nil },
		func(context.Context) ([]byte, error) { return nil, errors.New("down") },
	}
	c := checkConvergence(context.Background(), []string{"n1", "n2"}, never, time.Now(), 50*time.Millisecond, time.Millisecond)
	if c.Converged || c.After < 50*time.Millisecond || !strings.Contains(c.Last, "n2: down") {
		t.Fatalf("want no convergence after the deadline, naming n2's error; got %+v", c)
	}
}

func TestCheckFutureRefused(t *testing.T) {
	w := []Window{{Node: 2, Offset: 1500 * time.Millisecond, Start: 10, End: 20}}
	ops := []Op{
		{ID: 0, F: "put", Key: "a", Coordinator: "n3", Acked: []string{"n3"}, Invoke: 11, Complete: 12},       // refused by the others: fine
		{ID: 1, F: "put", Key: "b", Coordinator: "n1", Acked: []string{"n1", "n3"}, Invoke: 11, Complete: 12}, // stamped by n1: fine
		{ID: 2, F: "put", Key: "c", Coordinator: "n3", Acked: []string{"n3", "n2"}, Invoke: 21, Complete: 22}, // after the window: fine
		{ID: 3, F: "sadd", Key: "d", Coordinator: "n3", Acked: []string{"n3", "n1"}, Invoke: 12, Complete: 13},
	}
	n, ps := checkFutureRefused(ops, w)
	if n != 2 || len(ps) != 1 || !strings.Contains(ps[0], "op 3") || !strings.Contains(ps[0], "[n1]") {
		t.Fatalf("want one problem naming op 3 and n1, got %q", ps)
	}
}

func TestSchedule_deterministic(t *testing.T) {
	for _, n := range Nemeses {
		a := n.Schedule(42, 30*time.Second, 3, 500*time.Millisecond)
		b := n.Schedule(42, 30*time.Second, 3, 500*time.Millisecond)
		if describeSchedule(n, a) != describeSchedule(n, b) || len(a) < 3 {
			t.Fatalf("%s: schedules of one seed differ or are short:\n%s\n%s", n.Name, describeSchedule(n, a), describeSchedule(n, b))
		}
		if c := n.Schedule(43, 30*time.Second, 3, 500*time.Millisecond); describeSchedule(n, a) == describeSchedule(n, c) {
			t.Errorf("%s: seeds 42 and 43 give the same schedule", n.Name)
		}
		for _, f := range a {
			if f.Heal > 30*time.Second || f.Heal <= f.Start {
				t.Errorf("%s: fault %+v outside the run", n.Name, f)
			}
			switch n.Name {
			case "skew":
				if f.Offset == 0 || f.Offset > 500*time.Millisecond || f.Offset < -500*time.Millisecond {
					t.Errorf("skew offset %v not within the max clock offset", f.Offset)
				}
			case "skew-beyond":
				if f.Offset <= 500*time.Millisecond || f.Offset > 2500*time.Millisecond || f.Heal-f.Start > 10*time.Second {
					t.Errorf("skew-beyond fault %+v: want an offset beyond 500ms by at most 2s, for at most 10s", f)
				}
			}
		}
	}
}

func TestPlanRuns(t *testing.T) {
	plan, err := planRuns("all", "all")
	if err != nil {
		t.Fatal(err)
	}
	want := 2*len(Nemeses) + len(suiteSiblingsNemeses)
	if len(plan) != want {
		t.Fatalf("suite: %d runs, want %d", len(plan), want)
	}
	if _, err := planRuns("bridge,nope", "set"); err == nil {
		t.Fatal("an unknown nemesis must be refused")
	}
	plan, err = planRuns("bridge", "siblings")
	if err != nil || len(plan) != 1 || plan[0].name != "siblings" || plan[0].nemesis.Name != "bridge" {
		t.Fatalf("explicit siblings run: %v %v", plan, err)
	}
}
