package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/cluster/ring"
)

// freshnessLoad writes keys at QUORUM, each key by one worker in
// increasing values, and after each acknowledged write reads the key back
// at QUORUM through another node: the read must return the acknowledged
// value or a later one (DESIGN: QUORUM reads during a move stay fresh).
type freshnessLoad struct {
	t       *testing.T
	clients []*client.Client // one per node, by index; nil once the node is gone
	mu      sync.Mutex
	gone    map[int]bool
	acked   sync.Map // key -> last acknowledged value (int)
	writes  atomic.Int64
	reads   atomic.Int64
	stale   atomic.Int64
	errs    chan error
}

func (l *freshnessLoad) client(i int) *client.Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone[i] {
		return nil
	}
	return l.clients[i]
}

// run is one worker: it owns keys w<id>-0..9 and stops when ctx ends.
func (l *freshnessLoad) run(ctx context.Context, id int, rng *rand.Rand) {
	next := map[string]int{}
	for ctx.Err() == nil {
		key := fmt.Sprintf("w%d-%d", id, rng.IntN(10))
		next[key]++
		v := next[key]
		wc, rc := l.client(rng.IntN(len(l.clients))), l.client(rng.IntN(len(l.clients)))
		if wc == nil || rc == nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := wc.Put(cctx, []byte(key), []byte(strconv.Itoa(v)), client.WithConsistency(client.Quorum))
		cancel()
		if err != nil {
			continue // indeterminate: a later read may see it or not
		}
		l.acked.Store(key, v)
		l.writes.Add(1)
		cctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		got, err := rc.Get(cctx, []byte(key), client.WithConsistency(client.Quorum))
		cancel()
		if err != nil {
			continue // not answered: says nothing about freshness
		}
		l.reads.Add(1)
		if !got.Found || len(got.Values) != 1 {
			l.stale.Add(1)
			l.report(fmt.Errorf("QUORUM read of %s after its write of %d was acknowledged: found %v, %d values", key, v, got.Found, len(got.Values)))
			continue
		}
		if have, _ := strconv.Atoi(string(got.Values[0])); have < v {
			l.stale.Add(1)
			l.report(fmt.Errorf("QUORUM read of %s returned %d after the write of %d was acknowledged", key, have, v))
		}
	}
}

func (l *freshnessLoad) report(err error) {
	select {
	case l.errs <- err:
	default:
	}
}

// QUORUM reads stay fresh while partitions move: a fourth node joins and
// then n2 leaves while workers write and read every key at QUORUM through
// every node (coordinators with a ring behind or ahead of the others').
// No read started after a write was acknowledged misses it. Each seed
// picks other keys and nodes.
func TestRingChange_quorumReadsStayFreshDuringMoves(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) { quorumReadsDuringMoves(t, seed) })
	}
}

func quorumReadsDuringMoves(t *testing.T, seed uint64) {
	dir := t.TempDir()
	n1 := start(t, testConfig(t, dir, "n1"))
	gossip := n1.n.cfg.GossipAddr
	n2 := start(t, testConfig(t, dir, "n2", gossip))
	n3 := start(t, testConfig(t, dir, "n3", gossip))
	await(t, 30*time.Second, "three alive normal members", func() error { return allNormal([]*testNode{n1, n2, n3}, 3) })

	l := &freshnessLoad{t: t, gone: map[int]bool{}, errs: make(chan error, 1)}
	for _, tn := range []*testNode{n1, n2, n3} {
		c, err := client.New([]string{tn.n.grpcAddr}, client.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		l.clients = append(l.clients, c)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(ctx, w, rand.New(rand.NewPCG(seed, uint64(w))))
		}()
	}
	defer func() { stop(); wg.Wait() }()
	await(t, 30*time.Second, "writes before the join", func() error { return atLeast(l.writes.Load(), 20) })

	n4 := start(t, testConfig(t, dir, "n4", gossip))
	await(t, time.Minute, "n4 normal", func() error { return allNormal([]*testNode{n1, n2, n3, n4}, 4) })
	before := l.writes.Load()
	await(t, 30*time.Second, "writes after the join", func() error { return atLeast(l.writes.Load()-before, 20) })

	if err := n2.n.startLeave(false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n2.done:
		n2.done = nil
		if err != nil {
			t.Fatalf("n2 stopped with %v after leaving", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("n2 did not leave within 2m")
	}
	l.mu.Lock()
	l.gone[1] = true
	l.mu.Unlock()
	before = l.writes.Load()
	await(t, 30*time.Second, "writes after the leave", func() error { return atLeast(l.writes.Load()-before, 20) })
	stop()
	wg.Wait()

	t.Logf("seed %d: %d writes acknowledged, %d reads checked, %d stale", seed, l.writes.Load(), l.reads.Load(), l.stale.Load())
	select {
	case err := <-l.errs:
		t.Fatal(err)
	default:
	}
	// Every acknowledged write is on all three replicas left.
	all, err := client.New([]string{n1.n.grpcAddr}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	for _, tn := range []*testNode{n1, n3, n4} {
		if m, _ := tn.n.member("n2"); m.State != ring.Left {
			t.Fatalf("%s sees n2 %v", tn.n.cfg.NodeID, m.State)
		}
	}
	l.acked.Range(func(k, v any) bool {
		got, err := all.Get(context.Background(), []byte(k.(string)), client.WithConsistency(client.All))
		if err != nil || !got.Found {
			t.Fatalf("get %s at ALL: %+v, %v", k, got, err)
		}
		if have, _ := strconv.Atoi(string(got.Values[0])); have < v.(int) {
			t.Fatalf("get %s at ALL: %d, acknowledged %d", k, have, v)
		}
		return true
	})
}

func atLeast(have, want int64) error {
	if have < want {
		return errors.New(strconv.FormatInt(have, 10) + " so far")
	}
	return nil
}
