package main

import (
	"context"
	"time"
)

// finalReads reads every key at ALL, through the live nodes in turn, retrying
// a failed read for up to 30s (replicas may still be reconnecting after
// the heal), and records each successful read as a final op. f is get or
// smembers.
func finalReads(ctx context.Context, env *Env, keys []string, f string) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	live := env.live()
	for i, k := range keys {
		deadline := time.Now().Add(30 * time.Second)
		for attempt := 0; ; attempt++ {
			node := live[(i+attempt)%len(live)]
			op := env.History.Invoke(Op{Process: -1, F: f, Key: k, Of: -1, Node: node, Final: true})
			octx, cancel := opCtx(ctx, env)
			var r Reply
			if f == "get" {
				r = env.Nodes[node].Get(octx, []byte(k), All)
			} else {
				r = env.Nodes[node].SMembers(octx, []byte(k), All)
			}
			cancel()
			if r.Outcome == OK || time.Now().After(deadline) || ctx.Err() != nil {
				env.History.Complete(op, r)
				break
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}
}
