package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// RunConfig is one run: a nemesis and a workload on a fresh cluster.
type RunConfig struct {
	Nemesis  *Nemesis
	Workload Workload
	// Seed draws the nemesis's schedule and the workload's choices.
	Seed uint64
	// Duration is how long the workload and the nemesis run.
	Duration time.Duration
	// KVNode is the kvnode binary; KVCtl the kvctl binary (the ring
	// nemesis runs it).
	KVNode, KVCtl string
	// Hosts must have a namespace for every node the run starts: the
	// initial ones and the schedule's Spares.
	Hosts *Hosts
	// OutDir receives the run's history, node logs and checker files.
	OutDir string
	// AntiEntropyInterval is the nodes' interval; convergence must happen
	// within two of them (plus Slack) of the heal.
	AntiEntropyInterval time.Duration
	// Slack is added to the convergence deadline; zero means 10s.
	Slack          time.Duration
	MaxClockOffset time.Duration
	// Rate caps the workload's operations per second.
	Rate float64
	// Args are extra kvnode flags (test knobs).
	Args []string
}

// initialNodes is how many nodes every run starts with: the replication
// factor.
const initialNodes = 3

// defaultMaxClockOffset is the nodes' --max-clock-offset unless a run sets
// another.
const defaultMaxClockOffset = 500 * time.Millisecond

// RunResult is what a run found.
type RunResult struct {
	Row         Row           `json:"row"`
	Seed        uint64        `json:"seed"`
	Duration    time.Duration `json:"duration"`
	Schedule    []Fault       `json:"schedule"`
	Windows     []Window      `json:"windows"`
	Deadline    time.Duration `json:"convergence_deadline"`
	Convergence string        `json:"convergence"`
	Problems    []string      `json:"problems"`
	Notes       []string      `json:"notes"`
	Reproduce   string        `json:"reproduce"`
}

// Run runs one nemesis with one workload and checks the outcome. Setup
// failures are problems of the run (it fails), not errors.
func Run(ctx context.Context, cfg RunConfig) (res RunResult) {
	if cfg.MaxClockOffset <= 0 {
		cfg.MaxClockOffset = defaultMaxClockOffset
	}
	if cfg.AntiEntropyInterval <= 0 {
		cfg.AntiEntropyInterval = 5 * time.Second
	}
	if cfg.Slack <= 0 {
		cfg.Slack = 10 * time.Second
	}
	res = RunResult{
		Row:      Row{Nemesis: cfg.Nemesis.Name, Workload: cfg.Workload.Name()},
		Seed:     cfg.Seed,
		Duration: cfg.Duration,
		Reproduce: fmt.Sprintf("go run ./chaos -seed %d -duration %v -nemesis %s -workload %s",
			cfg.Seed, cfg.Duration, cfg.Nemesis.Name, cfg.Workload.Name()),
	}
	defer func() {
		res.Row.Verdict = "pass"
		if len(res.Problems) > 0 {
			res.Row.Verdict = "fail"
		}
		if b, err := json.MarshalIndent(res, "", "  "); err == nil {
			_ = os.WriteFile(filepath.Join(cfg.OutDir, "result.json"), append(b, '\n'), 0o644) // diagnostics only
		}
	}()
	fail := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }

	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		fail("setup: %v", err)
		return res
	}
	dataDir, err := os.MkdirTemp("", cfg.Hosts.Prefix()+"-data-")
	if err != nil {
		fail("setup: %v", err)
		return res
	}
	defer func() { _ = os.RemoveAll(dataDir) }() // a leftover in the temp dir is harmless

	res.Schedule = cfg.Nemesis.Schedule(cfg.Seed, cfg.Duration, initialNodes, cfg.MaxClockOffset)
	c, err := StartCluster(ctx, ClusterConfig{
		Nodes: initialNodes, Spares: Spares(res.Schedule),
		Hosts: cfg.Hosts, KVNode: cfg.KVNode, KVCtl: cfg.KVCtl, DataDir: dataDir, LogDir: cfg.OutDir,
		Conflict: cfg.Workload.Conflict(), AntiEntropyInterval: cfg.AntiEntropyInterval,
		MaxClockOffset: cfg.MaxClockOffset, Args: cfg.Args, OpTimeout: time.Second,
	})
	if err != nil {
		fail("setup: start the cluster: %v", err)
		return res
	}
	defer c.Close()

	h := NewHistory()
	env := &Env{History: h, Seed: cfg.Seed, Rate: cfg.Rate, OpTimeout: time.Second, Prefix: "k", Live: c.Members}
	for i := range c.Slots() {
		env.Nodes = append(env.Nodes, clientKV{c.Client(i)})
	}

	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.Windows = runSchedule(runCtx, cfg.Nemesis, c, res.Schedule, h)
	}()
	cfg.Workload.Run(runCtx, env)
	wg.Wait()
	for _, ev := range h.Events() {
		if ev.Kind == "error" {
			fail("nemesis at %.1fs: %s", time.Duration(ev.Time).Seconds(), ev.What)
		}
	}
	if err := c.Recover(); err != nil {
		fail("heal: %v", err)
	}
	healedAt := time.Now()
	h.Event("heal", "final heal: every member running, resumed, clock right, network whole")
	// A clock that ran ahead stamped data that the others accept only once
	// their clocks have caught up: convergence is timed from the heal plus
	// the skew.
	for _, w := range res.Windows {
		if w.Offset > cfg.MaxClockOffset {
			healedAt = latest(healedAt, h.Time(w.End).Add(w.Offset))
		}
	}
	res.Deadline = 2*cfg.AntiEntropyInterval + cfg.Slack
	// Every member's digest: with as many members as replicas (the ring
	// nemesis ends with the initial count), every node holds every key.
	// A node that left or was removed holds nothing it must.
	var (
		ids     []string
		digests []DigestFunc
	)
	for _, i := range c.Members() {
		cl := c.Client(i)
		ids = append(ids, ID(i))
		digests = append(digests, func(ctx context.Context) ([]byte, error) {
			st, err := cl.Status(ctx)
			if err != nil {
				return nil, err
			}
			return st.Digest, nil
		})
	}
	conv := checkConvergence(ctx, ids, digests, healedAt, res.Deadline, 100*time.Millisecond)
	res.Convergence = conv.Last
	if conv.Converged {
		s := max(conv.After, 0).Seconds()
		res.Row.ConvergenceS = &s
	} else {
		fail("convergence: digests still differ %.1fs after the heal (deadline %v: two anti-entropy intervals of %v plus %v): %s",
			conv.After.Seconds(), res.Deadline, cfg.AntiEntropyInterval, cfg.Slack, conv.Last)
	}

	wr := cfg.Workload.Check(ctx, env, CheckOptions{Skewed: cfg.Nemesis.Skewed, OutDir: cfg.OutDir, LinearizabilityTimeout: time.Minute})
	res.Row.Lost, res.Row.Unexpected = wr.Lost, wr.Unexpected
	res.Problems = append(res.Problems, wr.Problems...)
	res.Notes = append(res.Notes, wr.Notes...)
	if cfg.Nemesis.Skewed {
		var beyond []Window
		for _, w := range res.Windows {
			if w.Offset > cfg.MaxClockOffset {
				beyond = append(beyond, w)
			}
		}
		if len(beyond) > 0 {
			n, ps := checkFutureRefused(h.Ops(), beyond)
			res.Problems = append(res.Problems, ps...)
			res.Notes = append(res.Notes, fmt.Sprintf("%d writes stamped by a clock beyond --max-clock-offset: %d accepted by another node", n, len(ps)))
		}
	}
	countOps(&res.Row, h.Ops())
	if err := h.WriteFile(filepath.Join(cfg.OutDir, "history.jsonl")); err != nil {
		fail("write the history: %v", err)
	}
	return res
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
