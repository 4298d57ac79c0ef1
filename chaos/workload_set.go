package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
)

// setWorkload adds unique members to set keys at QUORUM (a new key every
// membersPerKey members) and reads them back at QUORUM now and then.
type setWorkload struct {
	keys atomic.Int64 // keys used so far
	seq  atomic.Int64
}

// membersPerKey bounds a set key's size.
const membersPerKey = 100

func (*setWorkload) Name() string     { return "set" }
func (*setWorkload) Conflict() string { return "lww" }

func (s *setWorkload) key(env *Env, n int64) string { return fmt.Sprintf("%sset-%d", env.Prefix, n) }

func (s *setWorkload) Run(ctx context.Context, env *Env) {
	workers := env.Workers
	if workers <= 0 {
		workers = 10
	}
	runWorkers(ctx, env, workers, func(ctx context.Context, w int, rng *rand.Rand) {
		node := env.pickNode(rng)
		octx, cancel := opCtx(ctx, env)
		defer cancel()
		if rng.IntN(5) == 0 {
			k := s.key(env, max(s.seq.Load()-1, 0)/membersPerKey)
			op := env.History.Invoke(Op{Process: w, F: "smembers", Key: k, Of: -1, Node: node})
			env.History.Complete(op, env.Nodes[node].SMembers(octx, []byte(k), Quorum))
			return
		}
		n := s.seq.Add(1) - 1
		k := s.key(env, n/membersPerKey)
		for {
			used := s.keys.Load()
			if n/membersPerKey < used || s.keys.CompareAndSwap(used, n/membersPerKey+1) {
				break
			}
		}
		m := fmt.Sprintf("m%d", n)
		op := env.History.Invoke(Op{Process: w, F: "sadd", Key: k, Value: m, Of: -1, Node: node})
		env.History.Complete(op, env.Nodes[node].SAdd(octx, []byte(k), []byte(m)))
	})
}

// Check reads every key at ALL and checks the history (checkSet).
func (s *setWorkload) Check(ctx context.Context, env *Env, _ CheckOptions) Result {
	var keys []string
	for n := range s.keys.Load() {
		keys = append(keys, s.key(env, n))
	}
	finalReads(ctx, env, keys, "smembers")
	return checkSet(env.History.Ops())
}
