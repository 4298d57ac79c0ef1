package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/internal/testkit"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication/antientropy"
	"github.com/quorumkv/quorumkv/storage"
)

// dropScenario is what a fakeDrop's members and replicas answer.
type dropScenario struct {
	targeted map[string][]keyspace.Partition // by member: what it still lists
	ackErr   map[string]error                // by member: its failure to answer
	pushed   map[string]int                  // by replica: keys the next exchange pushes
	fetched  int                             // keys every exchange fetches
	dead     int                             // tombstones every exchange pushes
	changed  bool                            // the ring changed before the drop
}

// fakeDrop records what a dropper asked of its collaborators. Every
// partition holds data until dropped.
type fakeDrop struct {
	dropScenario
	mu      sync.Mutex
	calls   []string // "ack b", "exchange c", "drop", in order
	dropped map[keyspace.Partition]bool
}

func (f *fakeDrop) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeDrop) dropper(self string) *dropper {
	return &dropper{
		self: self,
		log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		roots: func(parts []keyspace.Partition) ([][storage.HashSize]byte, error) {
			out := make([][storage.HashSize]byte, len(parts))
			for i, p := range parts {
				if !f.dropped[p] {
					out[i][0] = 1
				}
			}
			return out, nil
		},
		ack: func(_ context.Context, member string, _ []keyspace.Partition) ([]keyspace.Partition, error) {
			f.record("ack " + member)
			return f.targeted[member], f.ackErr[member]
		},
		exchange: func(_ context.Context, peer string, parts []keyspace.Partition) (antientropy.Round, error) {
			f.record("exchange " + peer)
			f.mu.Lock()
			defer f.mu.Unlock()
			pushed := f.pushed[peer]
			delete(f.pushed, peer) // found and pushed: none the next time
			return antientropy.Round{Peer: peer, PartitionsCompared: len(parts), KeysPushed: pushed + f.dead, TombstonesPushed: f.dead,
				KeysFetched: f.fetched}, nil
		},
		drop: func(ps []keyspace.Partition) error {
			f.record("drop")
			for _, p := range ps {
				f.dropped[p] = true
			}
			return nil
		},
		still:   func(*ring.Ring) bool { return !f.changed },
		dropped: func(int) {},
	}
}

// dropRing has four normal members a..d, N = 3, 64 partitions: a replicates
// about three quarters of them.
func dropRing(t *testing.T, extra ...ring.Member) *ring.Ring {
	t.Helper()
	r, err := ring.New(append([]ring.Member{
		{ID: "a", VNodes: 8, State: ring.Normal},
		{ID: "b", VNodes: 8, State: ring.Normal},
		{ID: "c", VNodes: 8, State: ring.Normal},
		{ID: "d", VNodes: 8, State: ring.Normal},
	}, extra...), 3, 64)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func statuses(alive ...string) []cluster.MemberStatus {
	var out []cluster.MemberStatus
	for _, id := range []string{"a", "b", "c", "d"} {
		l := cluster.LivenessDead
		if slices.Contains(alive, id) {
			l = cluster.LivenessAlive
		}
		out = append(out, cluster.MemberStatus{Entry: cluster.Entry{ID: id, State: ring.Normal}, Liveness: l})
	}
	return out
}

// notReplicated returns the partitions of r that a does not replicate.
func notReplicated(r *ring.Ring) []keyspace.Partition {
	var out []keyspace.Partition
	for p := range r.Q() {
		if !r.IsReplica(p, "a") {
			out = append(out, keyspace.Partition(p))
		}
	}
	return out
}

func TestDropper_attempt(t *testing.T) {
	r := dropRing(t)
	lost := notReplicated(r)
	if len(lost) < 2 {
		t.Fatalf("a replicates all but %d partitions: too few to test", len(lost))
	}
	first := lost[0]
	// The replicas of first and the partitions sharing one with it.
	withReplica := func(id string) []keyspace.Partition {
		var out []keyspace.Partition
		for _, p := range lost {
			if r.IsReplica(int(p), id) {
				out = append(out, p)
			}
		}
		return out
	}
	tests := map[string]struct {
		fake    dropScenario
		members []cluster.MemberStatus
		// kept are the lost partitions that must not be dropped.
		kept     []keyspace.Partition
		complete bool
	}{
		"all acknowledged and synced": {
			members: statuses("a", "b", "c", "d"), complete: true,
		},
		"the replica's newer objects fetched": {
			fake:    dropScenario{fetched: 5},
			members: statuses("a", "b", "c", "d"), complete: true,
		},
		"tombstones pushed every time": {
			fake:    dropScenario{dead: 2},
			members: statuses("a", "b", "c", "d"), complete: true,
		},
		"a member still lists a partition": {
			fake:    dropScenario{targeted: map[string][]keyspace.Partition{"c": {first}}},
			members: statuses("a", "b", "c", "d"), kept: []keyspace.Partition{first},
		},
		"a member does not answer": {
			fake:    dropScenario{ackErr: map[string]error{"b": errors.New("unreachable")}},
			members: statuses("a", "b", "c", "d"), kept: lost,
		},
		"the last exchange pushed": {
			fake:    dropScenario{pushed: map[string]int{r.Replicas(int(first))[0]: 3}},
			members: statuses("a", "b", "c", "d"), kept: withReplica(r.Replicas(int(first))[0]),
		},
		"a current replica is down": {
			members: statuses("a", "b", "c"), kept: withReplica("d"),
		},
		"the ring changed": {
			fake:    dropScenario{changed: true},
			members: statuses("a", "b", "c", "d"), kept: lost,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := &fakeDrop{dropScenario: tc.fake, dropped: map[keyspace.Partition]bool{}}
			res := f.dropper("a").attempt(context.Background(), r, tc.members)
			if res.Held != len(lost) || res.Complete != tc.complete {
				t.Errorf("attempt = %+v, want %d held, complete %v", res, len(lost), tc.complete)
			}
			for _, p := range lost {
				if want := !slices.Contains(tc.kept, p); f.dropped[p] != want {
					t.Errorf("partition %d (replicas %v) dropped %v, want %v", p, r.Replicas(int(p)), f.dropped[p], want)
				}
			}
			if res.Dropped != len(lost)-len(tc.kept) {
				t.Errorf("%d dropped, want %d", res.Dropped, len(lost)-len(tc.kept))
			}
			// Every alive member was asked, and every exchange made, before
			// the first drop.
			firstDrop := slices.Index(f.calls, "drop")
			if firstDrop < 0 {
				return
			}
			for _, m := range tc.members {
				if m.ID != "a" && m.Liveness == cluster.LivenessAlive && !slices.Contains(f.calls[:firstDrop], "ack "+m.ID) {
					t.Errorf("dropped before asking %s: %v", m.ID, f.calls)
				}
			}
			if slices.ContainsFunc(f.calls[firstDrop:], func(c string) bool { return c != "drop" }) {
				t.Errorf("asked or exchanged after dropping: %v", f.calls)
			}
		})
	}
}

// A drop that left partitions takes them on a later attempt, once the
// member lists them no more and the exchange pushes nothing.
func TestDropper_attempt_retries(t *testing.T) {
	r := dropRing(t)
	lost := notReplicated(r)
	f := &fakeDrop{dropped: map[keyspace.Partition]bool{}, dropScenario: dropScenario{targeted: map[string][]keyspace.Partition{"b": lost[:1]}}}
	d := f.dropper("a")
	members := statuses("a", "b", "c", "d")
	if res := d.attempt(context.Background(), r, members); res.Complete || res.Dropped != len(lost)-1 || f.dropped[lost[0]] {
		t.Fatalf("first attempt %+v, partition %d dropped %v: want every other one dropped", res, lost[0], f.dropped[lost[0]])
	}
	f.targeted = nil
	if res := d.attempt(context.Background(), r, members); !res.Complete || res.Held != 1 || res.Dropped != 1 {
		t.Fatalf("second attempt %+v: want the last one dropped", res)
	}
	f.calls = nil
	if res := d.attempt(context.Background(), r, members); !res.Complete || res.Held != 0 || len(f.calls) != 0 {
		t.Fatalf("third attempt %+v, calls %v: want nothing held and nobody asked", res, f.calls)
	}
}

// Partitions that move (a pending replica) or that the node is a write
// target of are no candidates; left and removed members are not asked.
func TestDropper_candidatesAndAskable(t *testing.T) {
	r := dropRing(t, ring.Member{ID: "e", VNodes: 8, State: ring.Joining})
	d := (&fakeDrop{}).dropper("a")
	cands := d.candidates(r)
	if len(cands) == 0 {
		t.Fatal("no candidate")
	}
	for p := range r.Q() {
		want := !slices.Contains(r.WriteTargets(p), "a") && len(r.Pending(p)) == 0
		if got := slices.Contains(cands, keyspace.Partition(p)); got != want {
			t.Errorf("partition %d (targets %v, pending %v): candidate %v, want %v", p, r.WriteTargets(p), r.Pending(p), got, want)
		}
	}
	members := append(statuses("a", "b", "c", "d"),
		cluster.MemberStatus{Entry: cluster.Entry{ID: "e", State: ring.Joining}, Liveness: cluster.LivenessAlive},
		cluster.MemberStatus{Entry: cluster.Entry{ID: "f", State: ring.Left}, Liveness: cluster.LivenessAlive},
		cluster.MemberStatus{Entry: cluster.Entry{ID: "g", State: ring.Removed}, Liveness: cluster.LivenessAlive},
		cluster.MemberStatus{Entry: cluster.Entry{ID: "h", State: ring.Normal}, Liveness: cluster.LivenessSuspect})
	if got, want := d.askable(members), []string{"b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Errorf("askable = %v, want %v", got, want)
	}
}

func TestHandOffTargeted(t *testing.T) {
	r := dropRing(t, ring.Member{ID: "e", VNodes: 8, State: ring.Joining})
	var all []uint32
	for p := range r.Q() {
		all = append(all, uint32(p))
	}
	for _, id := range []string{"a", "e"} {
		got, err := handOffTargeted(r, id, all)
		if err != nil {
			t.Fatal(err)
		}
		var want []uint32
		for p := range r.Q() {
			if slices.Contains(r.WriteTargets(p), id) {
				want = append(want, uint32(p))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: targeted %v, want %v", id, got, want)
		}
	}
	if got, _ := handOffTargeted(r, "e", nil); len(got) != 0 {
		t.Errorf("no partition asked: %v", got)
	}
	for name, parts := range map[string][]uint32{"out of range": {uint32(r.Q())}, "twice": {1, 1}} {
		if _, err := handOffTargeted(r, "a", parts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Three nodes (N = 3) hold every key; a fourth joins and takes a quarter
// of the partitions. Once it is normal, the three drop the partitions
// they lost (every member acknowledged, the joiner holds their data):
// each key has exactly its three replicas' copies, every one reads at
// ALL, and the joiner, which lost nothing, dropped nothing.
func TestNode_dropsPartitionsLostToAJoiner(t *testing.T) {
	const keys = 200
	dir := t.TempDir()
	nodes := startThree(t, dir)
	n1, seed := nodes[0], nodes[0].n.cfg.GossipAddr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := putKeysAtAll(ctx, t, n1, keys)

	nodes = append(nodes, start(t, testConfig(t, dir, "n4", seed)))
	await(t, time.Minute, "four alive normal members", func() error { return allNormal(nodes, 4) })
	awaitCopies(t, nodes, 3*keys)
	r := ringView{n1.n}.Load()
	for i := range keys {
		reps := r.Replicas(int(keyspace.PartitionOf(dropKey(i))))
		for _, tn := range nodes {
			_, err := tn.n.store.Get(dropKey(i))
			if held, want := err == nil, slices.Contains(reps, tn.n.cfg.NodeID); held != want {
				t.Errorf("%s on %s (replicas %v): held %v (%v), want %v", dropKey(i), tn.n.cfg.NodeID, reps, held, err, want)
			}
		}
		got, err := c.Get(ctx, dropKey(i), client.WithConsistency(client.All))
		if err != nil || !got.Found || string(got.Values[0]) != string(dropKey(i)) {
			t.Fatalf("get %s at ALL: %+v, %v", dropKey(i), got, err)
		}
	}
	// Over the peer listener, n2 answers for n1 from its own ring: a
	// partition n1 replicates is still listed, one it lost is not.
	mine, gone := keyspace.Partition(r.PartitionsOf("n1")[0]), (&dropper{self: "n1"}).candidates(r)[0]
	targeted, err := n1.n.askHandOffAck(ctx, "n2", []keyspace.Partition{gone, mine})
	if err != nil || !slices.Equal(targeted, []keyspace.Partition{mine}) {
		t.Errorf("n2's HandOffAck for n1 of %d (lost) and %d (replicated): %v, %v; want only %d", gone, mine, targeted, err, mine)
	}

	// n1..n3 held every key's partition; each dropped those it lost.
	for _, tn := range nodes {
		lost := map[keyspace.Partition]bool{}
		for i := range keys {
			p := keyspace.PartitionOf(dropKey(i))
			if tn != nodes[3] && !slices.Contains(r.WriteTargets(int(p)), tn.n.cfg.NodeID) {
				lost[p] = true
			}
		}
		// The counter follows the last drop.
		await(t, 10*time.Second, tn.n.cfg.NodeID+"'s drop count", func() error {
			if got := value(t, tn.n.metrics.reg, "quorumkv_ring_partitions_dropped_total"); int(got) != len(lost) {
				return fmt.Errorf("%v partitions dropped, want the %d it lost", got, len(lost))
			}
			return nil
		})
	}
}

// A replica that is down holds back the drop of the partitions it
// replicates (the last exchange needs it); once it is back on its data
// dir it learns the ring, and every node drops what the joiner took,
// n3 what it held from before: three copies of every key again.
func TestNode_dropsAfterADownReplicaIsBack(t *testing.T) {
	const keys = 100
	dir := t.TempDir()
	log1 := &syncBuffer{}
	n1 := startLogging(t, testConfig(t, dir, "n1"), log1)
	seed := n1.n.cfg.GossipAddr
	c3 := testConfig(t, dir, "n3", seed)
	nodes := []*testNode{n1, start(t, testConfig(t, dir, "n2", seed)), start(t, c3)}
	await(t, 30*time.Second, "three alive normal members", func() error { return allNormal(nodes, 3) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := putKeysAtAll(ctx, t, n1, keys)
	nodes[2].stop(t)

	n4 := start(t, testConfig(t, dir, "n4", seed))
	up := []*testNode{n1, nodes[1], n4}
	await(t, time.Minute, "n4 normal on the nodes up", func() error {
		for _, tn := range up {
			if m, ok := tn.n.member("n4"); !ok || m.State != ring.Normal {
				return fmt.Errorf("%s sees n4 %+v", tn.n.cfg.NodeID, m)
			}
		}
		return nil
	})
	// With four members and N = 3, n3 replicates every partition n1
	// lost: n1 waits for it and keeps every key.
	await(t, time.Minute, "n1 waiting for n3", func() error {
		if !strings.Contains(log1.String(), `waiting for current replicas that are down; will retry" replicas=[n3]`) {
			return errors.New("not logged")
		}
		return nil
	})
	if got := n1.n.store.Stats().Keys; got != keys {
		t.Fatalf("n1 holds %d keys while n3 is down, want every one of the %d", got, keys)
	}
	if got := value(t, n1.n.metrics.reg, "quorumkv_ring_partitions_dropped_total"); got != 0 {
		t.Fatalf("n1 dropped %v partitions while n3 is down", got)
	}

	c3.GossipAddr = testkit.FreeAddr(t)
	nodes[2] = start(t, c3)
	nodes = append(nodes, n4)
	await(t, time.Minute, "four alive normal members", func() error { return allNormal(nodes, 4) })
	awaitCopies(t, nodes, 3*keys)
	for i := range keys {
		got, err := c.Get(ctx, dropKey(i), client.WithConsistency(client.All))
		if err != nil || !got.Found || string(got.Values[0]) != string(dropKey(i)) {
			t.Fatalf("get %s at ALL: %+v, %v", dropKey(i), got, err)
		}
	}
}

// A condition that holds the drop back is logged when it appears, at
// debug level while it lasts, and again when it comes back.
func TestDropper_logsAConditionOnce(t *testing.T) {
	r := dropRing(t)
	f := &fakeDrop{dropped: map[keyspace.Partition]bool{}, dropScenario: dropScenario{ackErr: map[string]error{"b": errors.New("unreachable")}}}
	d := f.dropper("a")
	var buf syncBuffer
	d.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	members := statuses("a", "b", "c", "d")
	warned := func() int {
		return strings.Count(buf.String(), `level=WARN msg="hand-off drop: a member did not acknowledge`)
	}
	for range 3 {
		d.attempt(context.Background(), r, members)
	}
	if got := warned(); got != 1 || !strings.Contains(buf.String(), `level=DEBUG msg="hand-off drop: a member did not acknowledge`) {
		t.Fatalf("%d warnings for three attempts while b does not answer, want 1 (then debug):\n%s", got, &buf)
	}
	// b answers but c is down for the exchanges: a new condition, the
	// other gone; b failing again is logged again.
	f.ackErr = nil
	d.attempt(context.Background(), r, statuses("a", "b", "d"))
	f.ackErr = map[string]error{"b": errors.New("unreachable")}
	d.attempt(context.Background(), r, members)
	if got := warned(); got != 2 {
		t.Fatalf("%d warnings, want 2: b failing again after it answered is news:\n%s", got, &buf)
	}
	if got := strings.Count(buf.String(), `level=INFO msg="hand-off drop: waiting for current replicas that are down`); got != 1 {
		t.Fatalf("c down logged %d times at info, want 1:\n%s", got, &buf)
	}
}

// A partition dropped while the node replicates it again (the ring
// changed between the dropper's last check and its drop) is filled again
// at once, not left empty until the next anti-entropy round.
func TestNode_refillsAPartitionDroppedWhileReplicated(t *testing.T) {
	const keys = 50
	dir := t.TempDir()
	nodes := startThree(t, dir)
	n1 := nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	putKeysAtAll(ctx, t, n1, keys)
	p := keyspace.PartitionOf(dropKey(0))
	if err := n1.n.store.DropPartitions(p); err != nil {
		t.Fatal(err)
	}
	n1.n.dropped.add([]keyspace.Partition{p})
	if _, err := n1.n.store.Get(dropKey(0)); err == nil {
		t.Fatalf("%s still held after its partition %d was dropped", dropKey(0), p)
	}
	await(t, 20*time.Second, "n1 holding its partition again", func() error {
		for i := range keys {
			if keyspace.PartitionOf(dropKey(i)) != p {
				continue
			}
			if _, err := n1.n.store.Get(dropKey(i)); err != nil {
				return fmt.Errorf("%s (partition %d): %w", dropKey(i), p, err)
			}
		}
		return nil
	})
}

// dropKey is the i-th key the drop tests write; its value is the key.
func dropKey(i int) []byte { return []byte(fmt.Sprintf("key-%d", i)) }

// putKeysAtAll writes keys dropKey(0..n-1) through tn at ALL and returns
// the client it used.
func putKeysAtAll(ctx context.Context, t *testing.T, tn *testNode, n int) *client.Client {
	t.Helper()
	c := grpcClient(t, tn)
	for i := range n {
		if _, err := c.Put(ctx, dropKey(i), dropKey(i), client.WithConsistency(client.All)); err != nil {
			t.Fatalf("put %s at ALL: %v", dropKey(i), err)
		}
	}
	return c
}

// startThree starts n1, then n2 and n3 joining it, with data under dir,
// and waits until every one sees three alive normal members.
func startThree(t *testing.T, dir string) []*testNode {
	t.Helper()
	n1 := start(t, testConfig(t, dir, "n1"))
	seed := n1.n.cfg.GossipAddr
	nodes := []*testNode{n1, start(t, testConfig(t, dir, "n2", seed)), start(t, testConfig(t, dir, "n3", seed))}
	await(t, 30*time.Second, "three alive normal members", func() error { return allNormal(nodes, 3) })
	return nodes
}
