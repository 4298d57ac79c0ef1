package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// The tests of this file show that the suite catches bugs: each runs real
// nodes in network namespaces through a deterministic schedule, once with a
// test knob that breaks a guarantee on purpose (the checker must fail) and
// once without (the same checker must pass).

// startTestCluster starts three nodes on h with extra flags; their logs go
// to a directory kept (and named) when the test fails.
func startTestCluster(t *testing.T, h *Hosts, cfg ClusterConfig) *Cluster {
	t.Helper()
	logs, err := os.MkdirTemp("", "quorumkv-chaos-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node logs kept in %s", logs)
			return
		}
		os.RemoveAll(logs)
	})
	cfg.Hosts, cfg.KVNode, cfg.DataDir, cfg.LogDir = h, kvnodeForTest(t), t.TempDir(), logs
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := StartCluster(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// setFilters replaces the input rules of the nodes named in rules; the
// others keep theirs.
func setFilters(t *testing.T, h *Hosts, rules map[int][]string) {
	t.Helper()
	for i, r := range rules {
		if err := h.SetFilter(i, r); err != nil {
			t.Fatal(err)
		}
	}
}

// waitDead waits until node i's failure detector holds every node of
// dead dead.
func waitDead(t *testing.T, c *Cluster, i int, dead ...int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms, err := c.Client(i).Members(context.Background())
		n := 0
		if err == nil {
			for _, m := range ms {
				for _, d := range dead {
					if m.ID == ID(d) && m.State == client.Dead {
						n++
					}
				}
			}
		}
		if n == len(dead) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hold %v dead after 30s: %v %v", ID(i), dead, ms, err)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition
	}
}

// do runs one operation and records it in h.
func do(h *History, op Op, f func(ctx context.Context) Reply) Op {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	op.Of = -1
	return h.Complete(h.Invoke(op), f(ctx))
}

// retry runs op until it succeeds, for up to 20s, and returns its last
// run.
func retry(t *testing.T, h *History, op Op, f func(ctx context.Context) Reply) Op {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		done := do(h, op, f)
		if done.Outcome == OK || time.Now().After(deadline) {
			return done
		}
		time.Sleep(200 * time.Millisecond) // the peer's transport backs off after resets
	}
}

// staleReadSchedule produces a stale QUORUM read where blocking read repair
// is off, deterministically:
//
//  1. v0 is written at ALL through A (A's replica streams to B and C are
//     up).
//  2. A is cut from C by dropping packets (A's stream to C stays open and
//     every request on it hangs) and from B by resets (A's requests to B
//     fail at once), until A's failure detector holds B and C dead: A then
//     delivers them no hints.
//  3. v1 is put through A: only A applies it (unknown outcome).
//  4. A reaches B again, but not its gossip (A still holds B dead), and
//     reads k at QUORUM from itself and B: v1. Without blocking repair, B
//     is not brought up to date; the background repair stalls on C's hung
//     read until its deadline, and then writes nothing.
//  5. A is cut from B again and B reads k at QUORUM, from itself and C: a
//     read that starts after the first returned v1 gets v0.
//
// With blocking repair, step 4 writes v1 to B before answering, and step 5
// reads it: the history is linearizable.
func staleReadSchedule(t *testing.T, knobs []string) Result {
	h := hostsForTest(t)
	c := startTestCluster(t, h, ClusterConfig{AntiEntropyInterval: time.Hour, Args: knobs})
	const a, b, cc = 0, 1, 2
	ip := h.IP
	kv := func(i int) KV { return clientKV{c.Client(i)} }
	hist := NewHistory()
	k := []byte("k")

	w0 := do(hist, Op{F: "put", Key: "k", Value: "v0", Node: a}, func(ctx context.Context) Reply {
		r, err := c.Client(a).Put(ctx, k, []byte("v0"), client.WithConsistency(client.All))
		if err != nil {
			return clientFailure(err, true)
		}
		return Reply{Outcome: OK, Coordinator: r.Coordinator, Acked: r.Acknowledged}
	})
	if w0.Outcome != OK {
		t.Fatalf("put v0 at ALL: %+v", w0)
	}

	setFilters(t, h, map[int][]string{
		a:  append(dropFrom(ip(cc)), resetFrom(ip(b))...),
		b:  resetFrom(ip(a)),
		cc: dropFrom(ip(a)),
	})
	waitDead(t, c, a, b, cc)

	w1 := do(hist, Op{Process: 1, F: "put", Key: "k", Value: "v1", Node: a}, func(ctx context.Context) Reply {
		return kv(a).Put(ctx, k, []byte("v1"), nil)
	})
	if w1.Outcome != Indeterminate {
		t.Fatalf("put v1 through the cut-off A: want an unknown outcome (applied on A only), got %+v", w1)
	}

	setFilters(t, h, map[int][]string{
		a: append(dropFrom(ip(cc)), dropGossipFrom(ip(b), gossipPort)...),
		b: dropGossipFrom(ip(a), gossipPort),
	})
	r1 := retry(t, hist, Op{Process: 2, F: "get", Key: "k", Node: a}, func(ctx context.Context) Reply {
		return kv(a).Get(ctx, k, Quorum)
	})
	if r1.Outcome != OK || len(r1.Read) != 1 || r1.Read[0] != "v1" {
		t.Fatalf("QUORUM read through A: want v1, got %+v", r1)
	}

	setFilters(t, h, map[int][]string{
		a: append(dropFrom(ip(cc)), resetFrom(ip(b))...),
		b: resetFrom(ip(a)),
	})
	r2 := retry(t, hist, Op{Process: 3, F: "get", Key: "k", Node: b}, func(ctx context.Context) Reply {
		return kv(b).Get(ctx, k, Quorum)
	})
	if r2.Outcome != OK {
		t.Fatalf("QUORUM read through B: %+v", r2)
	}
	for _, op := range hist.Ops() {
		t.Logf("op %d %s %s %v via %s: %s coordinator %s acked %v [%v-%v] %s", op.ID, op.F, op.Value, op.Read, ID(op.Node), op.Outcome,
			op.Coordinator, op.Acked, time.Duration(op.Invoke), time.Duration(op.Complete), op.Err)
	}
	return checkRegister(hist.Ops(), CheckOptions{OutDir: t.TempDir(), LinearizabilityTimeout: 10 * time.Second})
}

func TestRegisterChecker_catchesStaleReadWithoutBlockingRepair(t *testing.T) {
	res := staleReadSchedule(t, []string{"--test-no-blocking-repair"})
	if len(res.Problems) == 0 {
		t.Fatal("with --test-no-blocking-repair the register checker passed a schedule built to read stale: it must fail")
	}
	if !strings.Contains(strings.Join(res.Problems, "\n"), "not linearizable") {
		t.Fatalf("want porcupine to find the history not linearizable, got %v", res.Problems)
	}
	t.Logf("register checker, as wanted: %v", res.Problems)
}

func TestRegisterChecker_passesTheSameScheduleWithBlockingRepair(t *testing.T) {
	if res := staleReadSchedule(t, nil); len(res.Problems) > 0 {
		t.Fatalf("with blocking read repair the schedule must be linearizable: %v", res.Problems)
	}
}

// divergenceSchedule leaves writes on one replica: A is cut from B and C
// (resets: replica writes fail at once, each leaving a hint), twenty keys
// are put through A (applied on A alone), and the network is healed. Hints
// (within seconds) and anti-entropy (within two intervals) must bring B
// and C up to date; nothing reads the keys.
func divergenceSchedule(t *testing.T, knobs []string) (Convergence, time.Duration) {
	h := hostsForTest(t)
	const ae = 3 * time.Second
	c := startTestCluster(t, h, ClusterConfig{AntiEntropyInterval: ae, Args: knobs})
	const a, b, cc = 0, 1, 2
	ip := h.IP
	hist := NewHistory()
	setFilters(t, h, map[int][]string{
		a:  append(resetFrom(ip(b)), resetFrom(ip(cc))...),
		b:  resetFrom(ip(a)),
		cc: resetFrom(ip(a)),
	})
	for i := range 20 {
		k := fmt.Sprintf("d%d", i)
		op := do(hist, Op{F: "put", Key: k, Value: "x", Node: a}, func(ctx context.Context) Reply {
			return clientKV{c.Client(a)}.Put(ctx, []byte(k), []byte("x"), nil)
		})
		if op.Outcome != Indeterminate {
			t.Fatalf("put %s through the cut-off A: want an unknown outcome (applied on A only), got %+v", k, op)
		}
	}
	if err := h.HealAll(); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	var (
		ids     []string
		digests []DigestFunc
	)
	for i := range c.Size() {
		ids = append(ids, ID(i))
		digests = append(digests, func(ctx context.Context) ([]byte, error) {
			st, err := c.Client(i).Status(ctx)
			if err != nil {
				return nil, err
			}
			return st.Digest, nil
		})
	}
	deadline := 2*ae + 4*time.Second
	return checkConvergence(context.Background(), ids, digests, healed, deadline, 100*time.Millisecond), deadline
}

func TestConvergenceChecker_catchesNoHintsNoAntiEntropy(t *testing.T) {
	conv, deadline := divergenceSchedule(t, []string{"--test-no-hints", "--test-no-anti-entropy"})
	if conv.Converged {
		t.Fatalf("with --test-no-hints and --test-no-anti-entropy the digests converged %.1fs after the heal (%s): the convergence checker must fail",
			conv.After.Seconds(), conv.Last)
	}
	t.Logf("convergence checker, as wanted: digests still differ %v after the heal (deadline %v): %s", conv.After.Round(time.Millisecond), deadline, conv.Last)
}

func TestConvergenceChecker_passesTheSameScheduleWithHintsAndAntiEntropy(t *testing.T) {
	conv, deadline := divergenceSchedule(t, nil)
	if !conv.Converged {
		t.Fatalf("digests still differ %.1fs after the heal (deadline %v): %s", conv.After.Seconds(), deadline, conv.Last)
	}
	t.Logf("converged %.1fs after the heal", conv.After.Seconds())
}

func TestConvergenceChecker_passesTheSameScheduleWithAntiEntropyAlone(t *testing.T) {
	conv, deadline := divergenceSchedule(t, []string{"--test-no-hints"})
	if !conv.Converged {
		t.Fatalf("without hints, anti-entropy must converge the digests within two intervals: still differ %.1fs after the heal (deadline %v): %s",
			conv.After.Seconds(), deadline, conv.Last)
	}
	t.Logf("anti-entropy alone converged %.1fs after the heal", conv.After.Seconds())
}
