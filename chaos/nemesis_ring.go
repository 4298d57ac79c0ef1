package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// How long the ring nemesis waits for each step before it calls the step
// failed.
const (
	joinTimeout   = 30 * time.Second
	normalTimeout = time.Minute
	leaveTimeout  = 90 * time.Second
	removeTimeout = time.Minute
)

// ringNemesis changes the ring while the workload runs. Each fault adds a
// node first and then takes one away, so that at least the initial count
// (the replication factor) of normal nodes is in the ring at all times and
// no step needs --force: at Start a new node (n4, n5, ...: a spare host,
// a fresh data dir) joins; at Heal, once every member sees it normal, a
// member goes, alternately by kvctl leave --wait (an initial node while
// one is left; it must exit 0) and by kill -9 followed by kvctl remove. A
// node that went is never started again, and neither the workloads nor the
// final checks use it.
var ringNemesis = &Nemesis{
	Name: "ring", Doc: "join a new node, then take one away: kvctl leave --wait, or kill -9 and kvctl remove (alternately)",
	minLen: 3 * time.Second, maxLen: 6 * time.Second, tail: 4 * time.Second,
	pick: fixed, plan: planRing,
	start: func(c *Cluster, f Fault) (string, error) {
		took, err := c.Join(context.Background(), f.Join, joinTimeout)
		return fmt.Sprintf("start %s, joining (joined after %.1fs)", ID(f.Join), took.Seconds()), err
	},
	heal: func(c *Cluster, f Fault) (string, error) {
		t0 := time.Now()
		if err := c.WaitReady(context.Background(), normalTimeout); err != nil {
			return fmt.Sprintf("wait for %s to be normal everywhere before the %s of %s", ID(f.Join), f.Exit, ID(f.Node)), err
		}
		normal := fmt.Sprintf("%s normal everywhere (waited %.1fs)", ID(f.Join), time.Since(t0).Seconds())
		t0 = time.Now()
		if f.Exit == "leave" {
			line, err := c.Leave(context.Background(), f.Node, leaveTimeout)
			return fmt.Sprintf("%s; kvctl leave --wait on %s: %q, exited 0 (%.1fs)", normal, ID(f.Node), line, time.Since(t0).Seconds()), err
		}
		dead, err := c.Remove(context.Background(), f.Node, removeTimeout)
		return fmt.Sprintf("%s; kill -9 %s, dead after %.1fs, kvctl remove %s (%.1fs)", normal, ID(f.Node), dead.Seconds(), ID(f.Node), time.Since(t0).Seconds()), err
	},
}

// planRing fills in the ring nemesis's faults: fault k starts node
// nodes+k, and its exits alternate from one drawn first. A leave takes an
// initial node while one is a member (any member else); a removal takes
// any member; never the node the fault started.
func planRing(rng *rand.Rand, faults []Fault, nodes int) {
	members := make([]int, nodes)
	for i := range members {
		members[i] = i
	}
	exits := [2]string{"leave", "remove"}
	first := rng.IntN(2)
	for k := range faults {
		f := &faults[k]
		f.Join, f.Exit = nodes+k, exits[(first+k)%2]
		from := members
		if initial := slices.DeleteFunc(slices.Clone(members), func(i int) bool { return i >= nodes }); f.Exit == "leave" && len(initial) > 0 {
			from = initial
		}
		f.Node = from[rng.IntN(len(from))]
		members = append(slices.DeleteFunc(members, func(i int) bool { return i == f.Node }), f.Join)
	}
}
