package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Workload issues operations against the cluster and then checks what it
// recorded.
type Workload interface {
	// Name is the workload's name on the command line and in the report.
	Name() string
	// Conflict is the conflict policy its cluster runs with.
	Conflict() string
	// Run issues operations through env until ctx is done, recording each
	// in env.History. It returns once every operation it started is
	// recorded.
	Run(ctx context.Context, env *Env)
	// Check runs the workload's final reads (after the convergence check)
	// and checks the history.
	Check(ctx context.Context, env *Env, opts CheckOptions) Result
}

// Env is what a workload runs against.
type Env struct {
	// Nodes are the cluster's nodes, each its own KV.
	Nodes []KV
	// Live, when set, lists the nodes (indices into Nodes) in the cluster
	// now: the workloads and the final reads send only to them. Nil (or
	// an empty list, which a cluster never is) means every node.
	Live func() []int
	// History records the operations.
	History *History
	// Seed seeds the workload's random choices.
	Seed uint64
	// Rate caps the operations per second of the whole workload.
	Rate float64
	// Workers is how many operations may be in flight at once; zero lets
	// the workload choose.
	Workers int
	// OpTimeout bounds one operation.
	OpTimeout time.Duration
	// Prefix starts every key the workload uses, so runs never share keys.
	Prefix string
}

// CheckOptions tells the checkers about the run.
type CheckOptions struct {
	// Skewed: node clocks disagreed during the run, so registers are not
	// expected to be linearizable (blind writes are ordered by clocks).
	Skewed bool
	// OutDir receives the checkers' files (the porcupine visualization).
	OutDir string
	// LinearizabilityTimeout bounds porcupine; Unknown counts as a failure.
	LinearizabilityTimeout time.Duration
}

// Result is what a workload's checkers found.
type Result struct {
	Lost, Unexpected, Recovered int
	// Problems are the violations, one line each; empty means pass.
	Problems []string
	// Notes are facts worth reporting that are not violations.
	Notes []string
}

func (r *Result) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// live lists the nodes to send to now.
func (e *Env) live() []int {
	if e.Live != nil {
		if l := e.Live(); len(l) > 0 {
			return l
		}
	}
	all := make([]int, len(e.Nodes))
	for i := range all {
		all[i] = i
	}
	return all
}

// pickNode draws the node of an operation among those live now.
func (e *Env) pickNode(rng *rand.Rand) int {
	l := e.live()
	return l[rng.IntN(len(l))]
}

// limiter hands out at most rate tokens per second to the workers.
type limiter struct {
	tokens chan struct{}
}

// startLimiter starts the token source; it stops when ctx is done.
func startLimiter(ctx context.Context, wg *sync.WaitGroup, rate float64) *limiter {
	l := &limiter{tokens: make(chan struct{})}
	if rate <= 0 {
		rate = 100
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case l.tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return l
}

// wait takes a token; false once ctx is done.
func (l *limiter) wait(ctx context.Context) bool {
	select {
	case <-l.tokens:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// workerRand is worker w's random source, derived from the seed.
func workerRand(seed uint64, w int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(w)*0x9e3779b97f4a7c15+1))
}

// runWorkers runs n workers, each calling op until ctx is done, paced by
// a limiter of rate; it returns when all have returned.
func runWorkers(ctx context.Context, env *Env, n int, op func(ctx context.Context, w int, rng *rand.Rand)) {
	var wg sync.WaitGroup
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := startLimiter(lctx, &wg, env.Rate)
	var workers sync.WaitGroup
	for w := range n {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rng := workerRand(env.Seed, w)
			for l.wait(ctx) {
				op(ctx, w, rng)
			}
		}()
	}
	workers.Wait()
	cancel()
	wg.Wait()
}

// opCtx is the context of one operation: its own timeout, not cut short
// by the end of the run, so the last operations complete (or time out) as
// any other.
func opCtx(ctx context.Context, env *Env) (context.Context, context.CancelFunc) {
	d := env.OpTimeout
	if d <= 0 {
		d = 1500 * time.Millisecond
	}
	return context.WithTimeout(context.WithoutCancel(ctx), d+500*time.Millisecond)
}
