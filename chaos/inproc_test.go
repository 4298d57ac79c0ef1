package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
	"github.com/quorumkv/quorumkv/storage"
)

// The in-process variant of the suite: three coordinators over an
// InmemNetwork, a randomized schedule of partitions, one-way cuts, dropped
// requests and replies lost after apply, the set and register workloads
// through the coordinators, and the same checkers. Fast enough for
// make test; -inproc.seed reproduces one seed.

var (
	inprocSeed  = flag.Uint64("inproc.seed", 0, "in-process chaos: run this seed only (0: -inproc.seeds seeds from a random base)")
	inprocSeeds = flag.Int("inproc.seeds", 12, "in-process chaos: how many seeds")
	inprocRun   = flag.Duration("inproc.duration", 300*time.Millisecond, "in-process chaos: workload length per seed")
	inprocKnob  = flag.String("inproc.knob", "", "in-process chaos: break a guarantee on purpose (no-blocking-repair or no-hints), to see the checkers fail")
)

// inprocCluster is three coordinators with their own engines, over one
// InmemNetwork.
type inprocCluster struct {
	net     *replicationtest.InmemNetwork
	ids     []string
	engines []*storage.Engine
	coords  []*replication.Coordinator
}

func newInprocCluster(t *testing.T, seed uint64) *inprocCluster {
	t.Helper()
	c := &inprocCluster{net: replicationtest.NewInmemNetwork(seed), ids: []string{"n1", "n2", "n3"}}
	var clusterID [conflict.ClusterIDSize]byte
	copy(clusterID[:], "chaos in-process")
	keys, err := conflict.NewKeyring(clusterID, []byte("secret of the in-process chaos cluster"))
	if err != nil {
		t.Fatal(err)
	}
	var members []ring.Member
	for _, id := range c.ids {
		members = append(members, ring.Member{ID: id, VNodes: 64, State: ring.Normal})
	}
	r, err := ring.New(members, 3, keyspace.Q)
	if err != nil {
		t.Fatal(err)
	}
	holder := ring.NewHolder(r)
	var transports []*replicationtest.InmemTransport
	t.Cleanup(func() {
		for _, co := range c.coords {
			_ = co.Close() // reports no error
		}
		for _, tr := range transports {
			_ = tr.Close() // reports no error
		}
		for _, e := range c.engines {
			if err := e.Close(); err != nil {
				t.Errorf("close engine: %v", err)
			}
		}
	})
	for _, id := range c.ids {
		scfg := storage.DefaultConfig()
		scfg.Dir = t.TempDir()
		scfg.Policy = conflict.LWW
		e, err := storage.Open(scfg)
		if err != nil {
			t.Fatal(err)
		}
		c.engines = append(c.engines, e)
		dots, err := conflict.OpenDotIssuer(e, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		clock := conflict.NewClock(time.Now, 500*time.Millisecond)
		c.net.Add(id, replication.NewLocalReplica(e, clock, keyspace.DefaultLimits(), nil))
		tr := c.net.Transport(id)
		transports = append(transports, tr)
		ccfg := replication.Config{
			NodeID: id, MaxSiblings: 100, Limits: keyspace.DefaultLimits(),
			ReplicaTimeout: 300 * time.Millisecond, SpeculativeDelay: 10 * time.Millisecond,
			TestNoBlockingRepair: *inprocKnob == "no-blocking-repair", TestNoHints: *inprocKnob == "no-hints",
		}
		co, err := replication.NewCoordinator(ccfg, replication.Cluster{Policy: conflict.LWW, Keys: keys}, e, e, dots, clock, holder, tr)
		if err != nil {
			t.Fatal(err)
		}
		c.coords = append(c.coords, co)
	}
	return c
}

// coordKV is KV over an in-process coordinator.
type coordKV struct{ c *replication.Coordinator }

var _ KV = coordKV{}

func replicationLevel(l Level) replication.Level {
	if l == All {
		return replication.All
	}
	return replication.Quorum
}

func (k coordKV) Get(ctx context.Context, key []byte, l Level) Reply {
	res, err := k.c.Get(ctx, key, replicationLevel(l))
	if err != nil {
		return coordFailure(err, res.Receipt, false)
	}
	return Reply{Outcome: OK, Found: res.Found, Values: res.Values, Token: res.Token, Coordinator: res.Receipt.Coordinator, Acked: res.Receipt.Acknowledged}
}

func (k coordKV) Put(ctx context.Context, key, value, token []byte) Reply {
	r, err := k.c.Put(ctx, key, value, token, replication.Quorum)
	if err != nil {
		return coordFailure(err, r, true)
	}
	return Reply{Outcome: OK, Coordinator: r.Coordinator, Acked: r.Acknowledged}
}

func (k coordKV) SAdd(ctx context.Context, key, member []byte) Reply {
	r, err := k.c.SetAdd(ctx, key, [][]byte{member}, replication.Quorum)
	if err != nil {
		return coordFailure(err, r, true)
	}
	return Reply{Outcome: OK, Coordinator: r.Coordinator, Acked: r.Acknowledged}
}

func (k coordKV) SMembers(ctx context.Context, key []byte, l Level) Reply {
	res, err := k.c.SetMembers(ctx, key, replicationLevel(l))
	if err != nil {
		return coordFailure(err, res.Receipt, false)
	}
	return Reply{Outcome: OK, Found: res.Found, Values: res.Members, Coordinator: res.Receipt.Coordinator, Acked: res.Receipt.Acknowledged}
}

// coordFailure classifies a coordinator error as clientFailure does a
// client's: refusals fail; a level not met fails a read, and a write that
// no replica applied; anything else is of unknown outcome.
func coordFailure(err error, r replication.Receipt, write bool) Reply {
	out := Reply{Outcome: Indeterminate, Err: err, Coordinator: r.Coordinator, Acked: r.Acknowledged}
	var qe *replication.QuorumError
	switch {
	case errors.Is(err, replication.ErrInvalidArgument), errors.Is(err, replication.ErrWrongType), errors.Is(err, replication.ErrTooManySiblings):
		out.Outcome = Fail
	case errors.As(err, &qe):
		if !write || qe.Receipt.Applied == replication.AppliedNone {
			out.Outcome = Fail
		}
	}
	return out
}

// inprocNemesis changes the network's faults every few milliseconds, from
// rng, until ctx is done: a partition between two nodes, a node isolated,
// one direction cut, requests dropped with some probability, replies lost
// after the peer applied the operation; or no fault.
func inprocNemesis(ctx context.Context, c *inprocCluster, rng *rand.Rand, h *History) {
	t := time.NewTicker(15 * time.Millisecond)
	defer t.Stop()
	pick := func() (string, string) {
		i := rng.IntN(3)
		return c.ids[i], c.ids[(i+1+rng.IntN(2))%3]
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if rng.IntN(3) != 0 {
			continue // keep the current faults a little longer
		}
		c.net.ClearFaults()
		a, b := pick()
		var what string
		switch rng.IntN(6) {
		case 0:
			what = "none"
		case 1:
			c.net.Partition(a, b)
			what = "partition " + a + " " + b
		case 2:
			for _, o := range c.ids {
				if o != a {
					c.net.Partition(a, o)
				}
			}
			what = "isolate " + a
		case 3:
			c.net.Cut(a, b)
			what = "cut " + a + " -> " + b
		case 4:
			p := 0.2 + 0.6*rng.Float64()
			c.net.DropRequests(a, b, p)
			c.net.DropRequests(b, a, p)
			what = fmt.Sprintf("drop %.0f%% between %s and %s", 100*p, a, b)
		case 5:
			c.net.DropRepliesAfterApply(a, b, true)
			what = "lose replies " + a + " -> " + b
		}
		h.Event("start", what)
	}
}

func TestInprocChaos(t *testing.T) {
	seeds := []uint64{*inprocSeed}
	if *inprocSeed == 0 {
		base := rand.Uint64() >> 12
		seeds = seeds[:0]
		for i := range *inprocSeeds {
			seeds = append(seeds, base+uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runInproc(t, seed)
		})
	}
}

// runInproc is one seed: both workloads under the nemesis, then the heal,
// hint delivery, the convergence check and the workloads' checkers.
func runInproc(t *testing.T, seed uint64) {
	c := newInprocCluster(t, seed)
	nodes := make([]KV, len(c.coords))
	for i, co := range c.coords {
		nodes[i] = coordKV{co}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *inprocRun)
	defer cancel()
	type job struct {
		w   Workload
		env *Env
	}
	var jobs []job
	for i, w := range []Workload{&setWorkload{}, newRegisterWorkload()} {
		jobs = append(jobs, job{w, &Env{Nodes: nodes, History: NewHistory(), Seed: seed + uint64(i)<<32, Rate: 1500,
			Workers: 6, OpTimeout: 100 * time.Millisecond, Prefix: w.Name() + "/"}})
	}
	nemesisHist := NewHistory()
	var wg sync.WaitGroup
	wg.Add(1 + len(jobs))
	go func() {
		defer wg.Done()
		inprocNemesis(ctx, c, rand.New(rand.NewPCG(seed, 7)), nemesisHist)
	}()
	for _, j := range jobs {
		go func() {
			defer wg.Done()
			j.w.Run(ctx, j.env)
		}()
	}
	wg.Wait()

	// Heal; hints and the replica writes still in flight must bring every
	// replica to the same data.
	c.net.ClearFaults()
	healed := time.Now()
	var (
		ids     []string
		digests []DigestFunc
	)
	for i, e := range c.engines {
		ids = append(ids, ID(i))
		digests = append(digests, func(ctx context.Context) ([]byte, error) {
			c.coords[i].DeliverHints(ctx)
			d := e.Digest()
			return d[:], nil
		})
	}
	conv := checkConvergence(context.Background(), ids, digests, healed, 5*time.Second, 5*time.Millisecond)
	if !conv.Converged {
		t.Errorf("seed %d: not converged %v after the heal and hint delivery: %s", seed, conv.After, conv.Last)
	}
	for _, j := range jobs {
		res := j.w.Check(context.Background(), j.env, CheckOptions{OutDir: t.TempDir(), LinearizabilityTimeout: 20 * time.Second})
		var row Row
		countOps(&row, j.env.History.Ops())
		t.Logf("%s: %d ops (%d ok, %d failed, %d unknown), %d lost, %d unexpected", j.w.Name(), row.Ops, row.OK, row.Failed,
			row.Indeterminate, res.Lost, res.Unexpected)
		for _, p := range res.Problems {
			t.Errorf("seed %d: %s: %s", seed, j.w.Name(), p)
		}
		if row.OK == 0 {
			t.Errorf("seed %d: %s: no operation succeeded", seed, j.w.Name())
		}
	}
}
