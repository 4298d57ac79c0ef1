package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// The ring change of an operator's day, as real processes under load:
// three nodes hold 3,000 keys written at ALL; n4 joins while two clients
// write at QUORUM through every node, then n2 leaves (kvctl leave --wait)
// under the same load. n2 exits 0; every acknowledged write reads back at
// ALL; after a repair round the three nodes left hold exactly three
// copies of every key (N = 3 over three nodes: each holds them all), and
// their digests are equal.
func TestCluster_joinThenLeaveUnderLoad(t *testing.T) {
	const base = 3000
	seed := startNode(t, nodeOpts{})
	gossip := seed.args[indexOf(seed.args, "--gossip-addr")+1]
	nodes := []*nodeProc{seed}
	for i := 2; i <= 3; i++ {
		nodes = append(nodes, startNode(t, nodeOpts{args: []string{"--node-id", fmt.Sprintf("n%d", i), "--join", gossip}}))
	}
	for _, p := range nodes {
		eventually(t, time.Minute, "three normal members", func() bool { return normalMembers(t, p) == 3 })
	}
	all, err := client.New([]string{nodes[0].grpc, nodes[1].grpc, nodes[2].grpc}, client.WithTimeout(10*time.Second), client.WithTokenAware(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	for i := range base {
		k := fmt.Sprintf("base-%d", i)
		if _, err := all.Put(context.Background(), []byte(k), []byte(k), client.WithConsistency(client.All)); err != nil {
			t.Fatalf("put %s at ALL: %v", k, err)
		}
	}

	// Two writers at QUORUM, each through its own node; n2's writer moves
	// to n1 once n2 has left.
	acked := &ackedWrites{acks: map[string]string{}}
	var attempted sync.Map
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for w, p := range []*nodeProc{nodes[0], nodes[2]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.New([]string{p.grpc}, client.WithTimeout(5*time.Second))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			pace := time.NewTicker(10 * time.Millisecond)
			defer pace.Stop()
			for i := 0; ctx.Err() == nil; i++ {
				select {
				case <-ctx.Done():
				case <-pace.C:
				}
				k, v := fmt.Sprintf("load-%d-%d", w, i), fmt.Sprintf("v%d", i)
				attempted.Store(k, v)
				if _, err := c.Put(ctx, []byte(k), []byte(v), client.WithConsistency(client.Quorum)); err == nil {
					acked.add(k, v)
				}
			}
		}()
	}
	ackedAtLeast := func(what string, k int) {
		t.Helper()
		eventually(t, time.Minute, what, func() bool { return len(acked.snapshot()) >= k })
	}
	ackedAtLeast("writes before the join", 50)

	n4 := startNode(t, nodeOpts{args: []string{"--node-id", "n4", "--join", gossip}})
	nodes = append(nodes, n4)
	for _, p := range nodes {
		eventually(t, time.Minute, "four normal members", func() bool { return normalMembers(t, p) == 4 })
	}
	ackedAtLeast("writes after the join", len(acked.snapshot())+50)

	if r := kvctl(t, nodes[1].grpc, nil, "leave", "--wait"); r.code != 0 || !strings.Contains(r.stderr, "n2 left after") {
		t.Fatalf("leave --wait under load: %v", r)
	}
	if code := nodes[1].exitCode(30 * time.Second); code != 0 {
		t.Fatalf("n2 exited %d after leaving:\n%s", code, nodes[1].stderr)
	}
	ackedAtLeast("writes after the leave", len(acked.snapshot())+50)
	stop()
	wg.Wait()
	left := []*nodeProc{nodes[0], nodes[2], nodes[3]}

	// Every acknowledged write reads back at ALL; a write not acknowledged
	// counts as a key when a read finds it.
	rc, err := client.New([]string{nodes[0].grpc}, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := acked.snapshot()
	stored := base
	var failure error
	attempted.Range(func(k, _ any) bool {
		res, err := rc.Get(context.Background(), []byte(k.(string)), client.WithConsistency(client.All))
		switch v, ok := want[k.(string)]; {
		case err != nil:
			failure = fmt.Errorf("get %s at ALL: %w", k, err)
		case ok && (!res.Found || string(res.Values[0]) != v):
			failure = fmt.Errorf("acknowledged %s=%s reads %+v at ALL", k, v, res)
		case res.Found:
			stored++
		}
		return failure == nil
	})
	if failure != nil {
		t.Fatal(failure)
	}
	for i := range base {
		k := fmt.Sprintf("base-%d", i)
		if res, err := rc.Get(context.Background(), []byte(k), client.WithConsistency(client.All)); err != nil || !res.Found {
			t.Fatalf("get %s at ALL: %+v, %v", k, res, err)
		}
	}
	t.Logf("%d keys: %d written at ALL before, %d acknowledged at QUORUM during the join and the leave, %d more stored", stored, base, len(want), stored-base-len(want))

	for _, p := range left {
		p.must("repair", "--wait", "--timeout", "60s")
	}
	eventually(t, time.Minute, "three copies of every key on the three nodes left", func() bool {
		sum := 0
		for _, p := range left {
			sum += keysOn(t, p)
		}
		return sum == 3*stored
	})
	st := jsonOf(t, nodes[0].must("-o", "json", "status", "--cluster"))
	if st["in_sync"] != true {
		t.Fatalf("status --cluster after the leave: %v", st)
	}
	digests := map[any]bool{}
	for _, m := range st["members"].([]any) {
		if m := m.(map[string]any); m["ring_state"] == "normal" {
			digests[m["digest"]] = true
		}
	}
	if len(digests) != 1 {
		t.Fatalf("the three nodes left hold different digests: %v", st)
	}
}
