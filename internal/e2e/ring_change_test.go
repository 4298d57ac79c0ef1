package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/quorumkv/quorumkv/client"
)

// ringChangeKeys is how many keys the ring change tests write at ALL.
const ringChangeKeys = 60

// startFour starts n1 and joins n2..n4 to it, each with args, and waits
// until n1 lists the four alive and normal.
func startFour(t *testing.T, args ...string) []*nodeProc {
	t.Helper()
	seed := startNode(t, nodeOpts{args: args})
	gossip := seed.args[indexOf(seed.args, "--gossip-addr")+1]
	nodes := []*nodeProc{seed}
	for i := 2; i <= 4; i++ {
		nodes = append(nodes, startNode(t, nodeOpts{args: append([]string{"--node-id", fmt.Sprintf("n%d", i), "--join", gossip}, args...)}))
	}
	for _, p := range nodes {
		eventually(t, time.Minute, "four normal members", func() bool { return normalMembers(t, p) == 4 })
	}
	return nodes
}

// membersOf returns node p's member table by id.
func membersOf(t *testing.T, p *nodeProc) map[string]member {
	t.Helper()
	var out struct{ Members []member }
	if err := json.Unmarshal([]byte(p.must("-o", "json", "members")), &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]member{}
	for _, x := range out.Members {
		m[x.ID] = x
	}
	return m
}

// keysOn returns the keys node p's status counts.
func keysOn(t *testing.T, p *nodeProc) int {
	t.Helper()
	r := kvctl(t, p.grpc, nil, "-o", "json", "status")
	if r.code != 0 {
		return -1
	}
	var st struct{ Keys int }
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	return st.Keys
}

// readAllAtAll reads every key written by writeKeys at ALL through p.
func readAllAtAll(t *testing.T, p *nodeProc) {
	t.Helper()
	for i := range ringChangeKeys {
		if got := p.must("get", fmt.Sprintf("key-%d", i), "-c", "all"); got != fmt.Sprintf("value-%d\n", i) {
			t.Fatalf("get key-%d at ALL: %q", i, got)
		}
	}
}

func writeKeys(t *testing.T, nodes []*nodeProc) {
	t.Helper()
	for i := range ringChangeKeys {
		nodes[i%len(nodes)].must("put", fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i), "-c", "all")
	}
}

// A dead node removed with kvctl remove leaves the ring; the members that
// take its partitions over are filled from the remaining replicas at once
// (periodic anti-entropy is off), so every key has three copies again.
// Removing an alive node, or going below the replication factor without
// --force, is refused.
func TestCluster_removeDeadNode(t *testing.T) {
	nodes := startFour(t, "--test-no-anti-entropy")
	n1 := nodes[0]
	writeKeys(t, nodes)

	n1.expect(2, []string{"n4", "alive", "kvctl leave"}, "remove", "n4")
	n1.expect(2, []string{"unknown member", "n9"}, "remove", "n9")
	n1.expect(2, []string{"cannot remove this node itself", "kvctl leave"}, "remove", "n1")

	nodes[3].kill9()
	eventually(t, 30*time.Second, "n4 dead on n1", func() bool { return membersOf(t, n1)["n4"].State == "dead" })
	n1.must("remove", "n4")
	for _, p := range nodes[:3] {
		eventually(t, 20*time.Second, "n4 removed everywhere", func() bool {
			m := membersOf(t, p)["n4"]
			return m.RingState == "removed" && m.Ownership == 0
		})
	}
	took := eventually(t, time.Minute, "three copies of every key", func() bool {
		sum := 0
		for _, p := range nodes[:3] {
			sum += keysOn(t, p)
		}
		return sum == 3*ringChangeKeys
	})
	t.Logf("new replicas filled %v after the removal", took)
	if st := jsonOf(t, n1.must("-o", "json", "status", "--cluster")); st["in_sync"] != true {
		t.Fatalf("status --cluster after the removal: %v", st)
	}
	readAllAtAll(t, nodes[1])

	// Removing n4 again is a no-op.
	n1.must("remove", "n4")

	// n4 back on its data dir is refused by the others: it stays removed
	// and not alive in their table. (Without a gossip key it cannot trust
	// the removal it hears, so it keeps running; see cluster's
	// screenUnauthenticated.)
	back := spawn(t, nodeOpts{dataDir: nodes[3].dataDir, args: nodes[3].extraArgs})
	eventually(t, 30*time.Second, "restarted n4 gossips with the others", func() bool {
		return strings.Contains(back.stderr.String(), "ignoring an unauthenticated removal")
	})
	for i, p := range nodes[:3] {
		if m := membersOf(t, p)["n4"]; m.RingState != "removed" || m.State == "alive" {
			t.Fatalf("restarted removed n4 on n%d: %+v", i+1, m)
		}
	}
	back.kill9()

	// Two normal nodes would remain: refused without --force.
	nodes[2].kill9()
	eventually(t, 30*time.Second, "n3 dead on n1", func() bool { return membersOf(t, n1)["n3"].State == "dead" })
	n1.expect(2, []string{"replication factor", "--force"}, "remove", "n3")
	if m := membersOf(t, n1)["n3"]; m.RingState != "normal" {
		t.Fatalf("refused remove changed n3: %+v", m)
	}
	n1.must("remove", "n3", "--force")
	eventually(t, 20*time.Second, "n3 removed", func() bool { return membersOf(t, n1)["n3"].RingState == "removed" })
}

// kvctl leave --wait on a node of four: it hands its partitions over,
// reports itself left and exits 0; the three others hold three copies of
// every key (periodic anti-entropy is off: the hand-off alone moved them).
// Leaving below the replication factor is refused without --force.
func TestCluster_leave(t *testing.T) {
	nodes := startFour(t, "--test-no-anti-entropy")
	writeKeys(t, nodes)
	held := keysOn(t, nodes[3])

	r := kvctl(t, nodes[3].grpc, nil, "leave", "--wait")
	if r.code != 0 || !strings.Contains(r.stderr, "n4 left after") {
		t.Fatalf("leave --wait: %v\n%s", r, nodes[3].stderr)
	}
	if code := nodes[3].exitCode(30 * time.Second); code != 0 {
		t.Fatalf("n4 exited %d after leaving:\n%s", code, nodes[3].stderr)
	}
	// n4 itself sent its keys to the nodes that took its partitions over
	// (an attempt a target refused, not knowing yet that n4 leaves, is
	// not counted: the retry sends what that one did not).
	pushed := 0
	for _, line := range strings.Split(nodes[3].stderr.String(), "\n") {
		if !strings.Contains(line, "handed partitions over") {
			continue
		}
		var k int
		if _, err := fmt.Sscanf(line[strings.Index(line, " keys=")+1:], "keys=%d", &k); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		pushed += k
	}
	if pushed == 0 || pushed > held {
		t.Fatalf("n4 pushed %d keys when handing its partitions over, held %d", pushed, held)
	}
	if !strings.Contains(nodes[3].stderr.String(), "last hand-off done") {
		t.Fatalf("n4 made no last hand-off after turning left:\n%s", nodes[3].stderr)
	}
	for _, p := range nodes[:3] {
		eventually(t, 20*time.Second, "n4 left everywhere", func() bool {
			m := membersOf(t, p)["n4"]
			return m.RingState == "left" && m.Ownership == 0
		})
	}
	sum := 0
	for _, p := range nodes[:3] {
		sum += keysOn(t, p)
	}
	if sum != 3*ringChangeKeys {
		t.Fatalf("%d copies of %d keys on the three nodes left, want three each", sum, ringChangeKeys)
	}
	if st := jsonOf(t, nodes[0].must("-o", "json", "status", "--cluster")); st["in_sync"] != true {
		t.Fatalf("status --cluster after the leave: %v", st)
	}
	readAllAtAll(t, nodes[1])

	nodes[2].expect(2, []string{"replication factor", "--force"}, "leave")
	if m := membersOf(t, nodes[0])["n3"]; m.RingState != "normal" {
		t.Fatalf("refused leave changed n3: %+v", m)
	}

	// Started again on its data dir, the left node is refused; with an
	// empty data dir it joins again as a new node.
	back := spawn(t, nodeOpts{dataDir: nodes[3].dataDir, args: nodes[3].extraArgs})
	if code := back.exitCode(30 * time.Second); code != 1 || !strings.Contains(back.stderr.String(), "joins again only as a new node, started with an empty data dir") {
		t.Fatalf("left n4 restarted on its data dir: exit %d:\n%s", code, back.stderr)
	}
	if m := membersOf(t, nodes[0])["n4"]; m.RingState != "left" {
		t.Fatalf("left n4 restarted: n1 sees %+v", m)
	}
	again := spawn(t, nodeOpts{args: nodes[3].extraArgs})
	defer func() {
		if t.Failed() {
			t.Logf("n4 started again, empty:\n%s", again.stderr)
		}
	}()
	eventually(t, time.Minute, "n4 normal again", func() bool { return membersOf(t, nodes[0])["n4"].RingState == "normal" })
	readAllAtAll(t, again)
}

// Writes at ALL keep being acknowledged while n4 leaves, and every one
// acknowledged is on each of the three nodes left afterwards: during the
// move each write also went to the node taking the partition over.
// Anti-entropy and read repair are off, so only the hand-off, the writes
// to the pending replicas and their hints can have put the copies there.
func TestCluster_leaveUnderWrites(t *testing.T) {
	nodes := startFour(t, "--test-no-anti-entropy", "--read-repair-chance", "0")
	writeKeys(t, nodes)

	acked := &ackedWrites{acks: map[string]string{}}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var loadErr atomic.Pointer[error]
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				k, v := fmt.Sprintf("load-%d-%d", w, i), fmt.Sprintf("v%d", i)
				ok, err := putAll(ctx, nodes[(i+w)%3].grpc, k, v)
				if err != nil && ctx.Err() == nil {
					loadErr.Store(&err)
					return
				}
				if ok {
					acked.add(k, v)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // some writes before the leave starts
	r := kvctl(t, nodes[3].grpc, nil, "leave", "--wait")
	time.Sleep(500 * time.Millisecond) // and some after
	stop()
	wg.Wait()
	if r.code != 0 {
		t.Fatalf("leave --wait under writes: %v", r)
	}
	if p := loadErr.Load(); p != nil {
		t.Fatal(*p)
	}
	if code := nodes[3].exitCode(30 * time.Second); code != 0 {
		t.Fatalf("n4 exited %d", code)
	}
	want := acked.snapshot()
	for i := range ringChangeKeys {
		want[fmt.Sprintf("key-%d", i)] = fmt.Sprintf("value-%d", i)
	}
	t.Logf("%d keys, %d written during the leave", len(want), len(want)-ringChangeKeys)
	for i, p := range nodes[:3] {
		eventually(t, 30*time.Second, fmt.Sprintf("every acknowledged write on n%d", i+1), func() bool {
			for k, v := range want {
				if r := kvctl(t, p.grpc, nil, "get", k, "-c", "one"); r.code != 0 || r.stdout != v+"\n" {
					t.Logf("n%d: get %s at ONE: %v", i+1, k, r)
					return false
				}
			}
			return true
		})
	}
}

// A cluster started as one node grows to three: the replication factor is
// capped at the members there are, so each key starts with one copy and
// ends with three, moved by the joiners' fill alone (periodic
// anti-entropy is off).
func TestCluster_growsFromOneToThree(t *testing.T) {
	seed := startNode(t, nodeOpts{args: []string{"--test-no-anti-entropy"}})
	gossip := seed.args[indexOf(seed.args, "--gossip-addr")+1]
	nodes := []*nodeProc{seed}
	writeKeys(t, nodes)
	if got := keysOn(t, seed); got != ringChangeKeys {
		t.Fatalf("%d keys on the lone node, want %d", got, ringChangeKeys)
	}
	for i := 2; i <= 3; i++ {
		nodes = append(nodes, startNode(t, nodeOpts{args: []string{"--node-id", fmt.Sprintf("n%d", i), "--join", gossip, "--test-no-anti-entropy"}}))
		for _, p := range nodes {
			eventually(t, time.Minute, fmt.Sprintf("%d normal members", i), func() bool { return normalMembers(t, p) == i })
		}
	}
	eventually(t, time.Minute, "three copies of every key", func() bool {
		sum := 0
		for _, p := range nodes {
			sum += keysOn(t, p)
		}
		return sum == 3*ringChangeKeys
	})
	for _, p := range nodes {
		if got := keysOn(t, p); got != ringChangeKeys {
			t.Fatalf("%d keys on %s, want every one", got, p.grpc)
		}
	}
	if st := jsonOf(t, seed.must("-o", "json", "status", "--cluster")); st["in_sync"] != true {
		t.Fatalf("status --cluster after growing: %v", st)
	}
	readAllAtAll(t, nodes[2])
}

// A leaving node killed with SIGKILL during its hand-off resumes it when
// started again on its data dir: it hands every partition over, becomes
// left and exits 0, and the three others hold three copies of every key
// (periodic anti-entropy is off).
func TestCluster_leaveResumesAfterKill(t *testing.T) {
	nodes := startFour(t, "--test-no-anti-entropy")
	writeKeys(t, nodes)
	nodes[3].must("leave")
	nodes[3].kill9() // perhaps before the others heard it leaves
	back := spawn(t, nodeOpts{dataDir: nodes[3].dataDir, args: nodes[3].extraArgs})
	if code := back.exitCode(time.Minute); code != 0 {
		t.Fatalf("n4 restarted while leaving: exit %d:\n%s", code, back.stderr)
	}
	for _, p := range nodes[:3] {
		eventually(t, 20*time.Second, "n4 left everywhere", func() bool { return membersOf(t, p)["n4"].RingState == "left" })
	}
	eventually(t, 30*time.Second, "three copies of every key", func() bool {
		sum := 0
		for _, p := range nodes[:3] {
			sum += keysOn(t, p)
		}
		return sum == 3*ringChangeKeys
	})
	if st := jsonOf(t, nodes[0].must("-o", "json", "status", "--cluster")); st["in_sync"] != true {
		t.Fatalf("status --cluster after the leave: %v", st)
	}
	readAllAtAll(t, nodes[1])
}

// A fifth node joins and then n2 leaves, both under writes at ALL: the
// nodes that lose partitions to the joiner drop them once every alive
// member has acknowledged it and a last exchange found nothing to hand
// over, so the four nodes left hold exactly three copies of every key,
// and every acknowledged write reads back at ALL. Anti-entropy and read
// repair are off.
func TestCluster_joinAndLeaveUnderWritesDrops(t *testing.T) {
	args := []string{"--test-no-anti-entropy", "--read-repair-chance", "0"}
	nodes := startFour(t, args...)
	writeKeys(t, nodes)
	gossip := nodes[0].args[indexOf(nodes[0].args, "--gossip-addr")+1]

	// Two writers, through n1, n3 and n4 (not n2, which leaves), paced so
	// that the keys stay few enough to read back.
	acked := &ackedWrites{acks: map[string]string{}}
	var attempted sync.Map // key -> value, acknowledged or not
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := make([]*client.Client, 0, 3)
			for _, p := range []*nodeProc{nodes[0], nodes[2], nodes[3]} {
				c, err := client.New([]string{p.grpc}, client.WithTimeout(5*time.Second))
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				cs = append(cs, c)
			}
			pace := time.NewTicker(20 * time.Millisecond)
			defer pace.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
				k, v := fmt.Sprintf("load-%d-%d", w, i), fmt.Sprintf("v%d", i)
				attempted.Store(k, v)
				_, err := cs[i%len(cs)].Put(ctx, []byte(k), []byte(v), client.WithConsistency(client.All))
				switch {
				case err == nil:
					acked.add(k, v)
				case ctx.Err() == nil:
					t.Logf("put %s at ALL not acknowledged: %v", k, err)
				}
			}
		}()
	}
	ackedAtLeast := func(what string, k int) {
		t.Helper()
		eventually(t, time.Minute, what, func() bool { return len(acked.snapshot()) >= k })
	}
	ackedAtLeast("writes before the join", 20)

	n5 := startNode(t, nodeOpts{args: append([]string{"--node-id", "n5", "--join", gossip}, args...)})
	nodes = append(nodes, n5)
	for _, p := range nodes {
		eventually(t, time.Minute, "five normal members", func() bool { return normalMembers(t, p) == 5 })
	}
	ackedAtLeast("writes after the join", len(acked.snapshot())+20)

	if r := kvctl(t, nodes[1].grpc, nil, "leave", "--wait"); r.code != 0 {
		t.Fatalf("leave --wait under writes: %v", r)
	}
	ackedAtLeast("writes after the leave", len(acked.snapshot())+20)
	stop()
	wg.Wait()
	if code := nodes[1].exitCode(30 * time.Second); code != 0 {
		t.Fatalf("n2 exited %d", code)
	}
	left := []*nodeProc{nodes[0], nodes[2], nodes[3], nodes[4]}
	for _, p := range left {
		eventually(t, 20*time.Second, "n2 left everywhere", func() bool { return membersOf(t, p)["n2"].RingState == "left" })
	}

	want := acked.snapshot()
	for i := range ringChangeKeys {
		want[fmt.Sprintf("key-%d", i)] = fmt.Sprintf("value-%d", i)
	}
	c, err := client.New([]string{nodes[0].grpc}, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A write not acknowledged may still have reached some replicas (and
	// their hints the others): it counts as a key when a read finds it.
	stored := len(want)
	var readErr error
	attempted.Range(func(k, _ any) bool {
		if _, ok := want[k.(string)]; ok {
			return true
		}
		res, err := c.Get(rctx, []byte(k.(string)), client.WithConsistency(client.All))
		if err != nil {
			readErr = fmt.Errorf("get %s at ALL: %w", k, err)
			return false
		}
		if res.Found {
			stored++
		}
		return true
	})
	if readErr != nil {
		t.Fatal(readErr)
	}
	t.Logf("%d keys, %d written during the join and the leave, %d more not acknowledged but stored", len(want), len(want)-ringChangeKeys, stored-len(want))
	eventually(t, time.Minute, "three copies of every key on the four nodes left", func() bool {
		sum := 0
		for _, p := range left {
			sum += keysOn(t, p)
		}
		if sum != 3*stored {
			t.Logf("%d copies of %d keys", sum, stored)
		}
		return sum == 3*stored
	})
	for k, v := range want {
		res, err := c.Get(rctx, []byte(k), client.WithConsistency(client.All))
		if err != nil || !res.Found || len(res.Values) != 1 || string(res.Values[0]) != v {
			t.Fatalf("get %s at ALL: %+v, %v; want %q", k, res, err, v)
		}
	}
	dropped := 0
	for _, p := range left {
		dropped += int(metricValue(t, p, "quorumkv_ring_partitions_dropped_total"))
	}
	if dropped == 0 {
		t.Fatal("no node dropped a partition")
	}
}

// metricValue returns the unlabelled counter name of node p's /metrics.
func metricValue(t *testing.T, p *nodeProc, name string) float64 {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", p.grpc, err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s's metrics: %v", p.grpc, err)
	}
	return counter(t, fams, name, nil)
}
