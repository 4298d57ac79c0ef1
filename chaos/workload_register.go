package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
)

// registerWorkload reads and writes registers at QUORUM under lww: groups
// of workers share a key; writes are unique values, blind or
// read-modify-write (a put with the context of the get before it). A group
// moves to a fresh key after registerOpsPerKey operations or after any
// operation of unknown outcome, which keeps porcupine's search small.
type registerWorkload struct {
	policy string // lww, or siblings for the siblings workload
	name   string

	mu     sync.Mutex
	groups []*regGroup
	keys   []string
	seq    int
}

type regGroup struct {
	id  int
	gen int
	ops int
}

const (
	registerOpsPerKey = 200
	workersPerGroup   = 3
)

func newRegisterWorkload() *registerWorkload {
	return &registerWorkload{policy: "lww", name: "register"}
}

func (r *registerWorkload) Name() string     { return r.name }
func (r *registerWorkload) Conflict() string { return r.policy }

func (r *registerWorkload) keyOf(env *Env, g *regGroup) string {
	return fmt.Sprintf("%s%s-%d-%d", env.Prefix, r.name, g.id, g.gen)
}

// claim returns the group's current key for an operation of n steps,
// moving to a fresh key when the current one has had its share.
func (r *registerWorkload) claim(env *Env, g *regGroup, n int) (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g.ops+n > registerOpsPerKey {
		g.gen++
		g.ops = 0
	}
	k := r.keyOf(env, g)
	if g.ops == 0 {
		r.keys = append(r.keys, k)
	}
	g.ops += n
	return k, g.gen
}

// retire moves the group off generation gen (after an operation of unknown
// outcome on it).
func (r *registerWorkload) retire(g *regGroup, gen int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g.gen == gen {
		g.gen++
		g.ops = 0
	}
}

func (r *registerWorkload) value(w int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	return fmt.Sprintf("v%d-%d", w, r.seq)
}

func (r *registerWorkload) Run(ctx context.Context, env *Env) {
	workers := env.Workers
	if workers <= 0 {
		workers = 4 * workersPerGroup
	}
	r.mu.Lock()
	for i := range (workers + workersPerGroup - 1) / workersPerGroup {
		r.groups = append(r.groups, &regGroup{id: i})
	}
	r.mu.Unlock()
	runWorkers(ctx, env, workers, func(ctx context.Context, w int, rng *rand.Rand) {
		g := r.groups[w/workersPerGroup]
		node := env.pickNode(rng)
		kv := env.Nodes[node]
		octx, cancel := opCtx(ctx, env)
		defer cancel()
		var (
			readP, blindP int
		)
		if r.policy == "lww" {
			readP, blindP = 45, 40 // the rest: read-modify-write
		} else {
			readP, blindP = 10, 45
		}
		switch p := rng.IntN(100); {
		case p < readP:
			k, gen := r.claim(env, g, 1)
			op := env.History.Invoke(Op{Process: w, F: "get", Key: k, Of: -1, Node: node})
			if done := env.History.Complete(op, kv.Get(octx, []byte(k), Quorum)); done.Outcome == Indeterminate {
				r.retire(g, gen)
			}
		case p < readP+blindP:
			k, gen := r.claim(env, g, 1)
			op := env.History.Invoke(Op{Process: w, F: "put", Key: k, Value: r.value(w), Of: -1, Node: node})
			if done := env.History.Complete(op, kv.Put(octx, []byte(k), []byte(op.Value), nil)); done.Outcome == Indeterminate {
				r.retire(g, gen)
			}
		default:
			k, gen := r.claim(env, g, 2)
			get := env.History.Invoke(Op{Process: w, F: "get", Key: k, Of: -1, Node: node})
			gr := kv.Get(octx, []byte(k), Quorum)
			got := env.History.Complete(get, gr)
			if got.Outcome != OK {
				if got.Outcome == Indeterminate {
					r.retire(g, gen)
				}
				return
			}
			op := env.History.Invoke(Op{Process: w, F: "put", Key: k, Value: r.value(w), Of: got.ID, Read: got.Read, Node: node})
			pctx, pcancel := opCtx(ctx, env)
			defer pcancel()
			if done := env.History.Complete(op, kv.Put(pctx, []byte(k), []byte(op.Value), gr.Token)); done.Outcome == Indeterminate {
				r.retire(g, gen)
			}
		}
	})
}

// Check reads every key at ALL and checks the history: linearizability
// (porcupine) unless clocks were skewed, and in every run that each
// acknowledged read-modify-write superseded what it read (checkRegister);
// under siblings, checkSiblings.
func (r *registerWorkload) Check(ctx context.Context, env *Env, opts CheckOptions) Result {
	r.mu.Lock()
	keys := append([]string(nil), r.keys...)
	r.mu.Unlock()
	finalReads(ctx, env, keys, "get")
	if r.policy == "siblings" {
		return checkSiblings(env.History.Ops())
	}
	return checkRegister(env.History.Ops(), opts)
}
