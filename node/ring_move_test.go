package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/keyspace"
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

// awaitCopies waits, a minute at most, until nodes hold want objects in
// all: the copies of every key when each is on its replicas alone.
func awaitCopies(t *testing.T, nodes []*testNode, want int) {
	t.Helper()
	await(t, time.Minute, fmt.Sprintf("%d copies over %d nodes", want, len(nodes)), func() error {
		sum := 0
		for _, tn := range nodes {
			sum += int(tn.n.store.Stats().Keys)
		}
		if sum != want {
			return fmt.Errorf("%d copies, want %d", sum, want)
		}
		return nil
	})
}

func atLeast(have, want int64) error {
	if have < want {
		return errors.New(strconv.FormatInt(have, 10) + " so far")
	}
	return nil
}

// putKeys writes keys k0..k<count-1> at level through c.
func putKeys(t *testing.T, c *client.Client, count int, level client.Consistency) {
	t.Helper()
	for i := range count {
		k := []byte(fmt.Sprintf("k%d", i))
		if _, err := c.Put(context.Background(), k, k, client.WithConsistency(level)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
}

// keysFilled sums keys= over the "filled partitions by anti-entropy" lines
// of a node's log.
func keysFilled(t *testing.T, log string) int {
	t.Helper()
	sum := 0
	for _, line := range strings.Split(log, "\n") {
		i := strings.Index(line, "filled partitions by anti-entropy")
		if i < 0 {
			continue
		}
		j := strings.Index(line, " keys=")
		var k int
		if _, err := fmt.Sscanf(line[j+1:], "keys=%d", &k); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		sum += k
	}
	return sum
}

// A joining node stopped in the middle of its fill resumes where it
// stopped when started again on its data dir: the second run fetches only
// the keys the first did not, and the node ends with every key.
func TestRingChange_interruptedFillResumes(t *testing.T) {
	const keys = 2000
	dir := t.TempDir()
	n1 := start(t, testConfig(t, dir, "n1"))
	c, err := client.New([]string{n1.n.grpcAddr}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	await(t, 30*time.Second, "n1 normal", func() error { return allNormal([]*testNode{n1}, 1) })
	putKeys(t, c, keys, client.All)

	cfg := testConfig(t, dir, "n2", n1.n.cfg.GossipAddr)
	var first syncBuffer
	var batches atomic.Int32
	var n2 *testNode
	stopped := make(chan struct{})
	cfg.afterMoveBatch = func() {
		if batches.Add(1) == 3 {
			n2.cancel() // as a crash would, in the middle of the fill
			close(stopped)
		}
	}
	n2 = startLogging(t, cfg, &first)
	<-stopped
	if err := <-n2.done; err != nil {
		t.Fatalf("n2 stopped with %v", err)
	}
	n2.done = nil
	got1 := keysFilled(t, first.String())
	if got1 == 0 || got1 >= keys {
		t.Fatalf("first run filled %d keys before it stopped, want some of %d:\n%s", got1, keys, first.String())
	}

	cfg.afterMoveBatch = nil
	var second syncBuffer
	again := startLogging(t, cfg, &second)
	await(t, time.Minute, "n2 normal", func() error { return allNormal([]*testNode{n1, again}, 2) })
	got2 := keysFilled(t, second.String())
	t.Logf("first run filled %d keys, the second %d, of %d", got1, got2, keys)
	if got1+got2 != keys {
		t.Fatalf("the fill fetched %d then %d keys: the second run did not resume where the first stopped (%d keys)", got1, got2, keys)
	}
	if st := again.n.store.Stats(); st.Keys != keys {
		t.Fatalf("n2 holds %d keys, want %d", st.Keys, keys)
	}
}

// A node that was down while another left learns of the leave when it
// returns: the leaving node waits for it if it takes partitions over,
// the leave completes, and the three nodes left hold every key, readable
// at ALL.
func TestRingChange_nodeDownDuringLeaveLearnsOfIt(t *testing.T) {
	dir := t.TempDir()
	n1 := start(t, testConfig(t, dir, "n1"))
	gossip := n1.n.cfg.GossipAddr
	cfg3 := testConfig(t, dir, "n3", gossip)
	n2 := start(t, testConfig(t, dir, "n2", gossip))
	n3 := start(t, cfg3)
	n4 := start(t, testConfig(t, dir, "n4", gossip))
	await(t, 30*time.Second, "four alive normal members", func() error { return allNormal([]*testNode{n1, n2, n3, n4}, 4) })
	c, err := client.New([]string{n1.n.grpcAddr}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	putKeys(t, c, 200, client.All)

	n3.stop(t)
	if err := n4.n.startLeave(false); err != nil {
		t.Fatal(err)
	}
	await(t, 30*time.Second, "n1 sees n4 leaving or left", func() error {
		if m, _ := n1.n.member("n4"); m.State != ring.Leaving && m.State != ring.Left {
			return fmt.Errorf("n4 is %v", m.State)
		}
		return nil
	})
	if m, _ := n3.n.member("n4"); m.State != ring.Normal {
		t.Fatalf("n3, down, last saw n4 %v", m.State)
	}

	back := start(t, cfg3)
	await(t, time.Minute, "n3 back sees n4 left", func() error {
		if m, _ := back.n.member("n4"); m.State != ring.Left {
			return fmt.Errorf("n4 is %v", m.State)
		}
		return nil
	})
	select {
	case err := <-n4.done:
		n4.done = nil
		if err != nil {
			t.Fatalf("n4 stopped with %v after leaving", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("n4 did not stop within 1m of n3's return")
	}
	awaitCopies(t, []*testNode{n1, n2, back}, 3*200)
	for i := range 200 {
		k := []byte(fmt.Sprintf("k%d", i))
		got, err := c.Get(context.Background(), k, client.WithConsistency(client.All))
		if err != nil || !got.Found || string(got.Values[0]) != string(k) {
			t.Fatalf("get %s at ALL: %+v, %v", k, got, err)
		}
	}
}

// A node that forwards a request passes over a replica that cannot be
// reached for the next one: a replica that stopped a moment ago, not yet
// known dead, does not fail the requests of its keys meanwhile.
func TestNode_forwardPassesOverAnUnreachableReplica(t *testing.T) {
	dir := t.TempDir()
	var cfgs []Config
	var nodes []*testNode
	for i, id := range []string{"n1", "n2", "n3"} {
		var join []string
		if i > 0 {
			join = []string{cfgs[0].GossipAddr}
		}
		cfg := testConfig(t, dir, id, join...)
		cfg.ReplicationFactor = 2
		cfgs = append(cfgs, cfg)
		nodes = append(nodes, start(t, cfg))
	}
	await(t, 30*time.Second, "three alive normal members", func() error { return allNormal(nodes, 3) })
	r := nodes[0].n.members.Load().Ring().Load()
	var key []byte
	for i := 0; key == nil; i++ {
		k := []byte(fmt.Sprintf("k%d", i))
		if reps := r.Replicas(int(keyspace.PartitionOf(k))); len(reps) == 2 && reps[0] == "n2" && reps[1] == "n3" {
			key = k
		}
	}
	nodes[1].stop(t)
	if m, _ := nodes[0].n.member("n2"); m.Liveness == cluster.LivenessDead {
		t.Fatal("n1 already knows n2 dead: nothing to pass over")
	}
	c, err := client.New([]string{nodes[0].n.grpcAddr}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec, err := c.Put(context.Background(), key, []byte("v"), client.WithConsistency(client.One))
	if err != nil {
		t.Fatalf("put through n1 with n2 just stopped: %v", err)
	}
	if rec.Coordinator != "n3" {
		t.Fatalf("coordinated by %s, want n3", rec.Coordinator)
	}
}
