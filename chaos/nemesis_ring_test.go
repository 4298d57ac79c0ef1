package main

import (
	"slices"
	"testing"
	"time"
)

// The ring nemesis's schedules: every fault joins a fresh node before it
// takes a member away, so the ring never holds fewer than the initial
// nodes; exits alternate, so a run of two faults or more both leaves and
// removes; a leave takes an initial node while one is a member; no node
// goes twice or comes back; and the last heal leaves the tail to the
// workload.
func TestRingSchedule(t *testing.T) {
	for _, d := range []time.Duration{25 * time.Second, 2 * time.Minute} {
		for seed := range uint64(200) {
			s := ringNemesis.Schedule(seed, d, initialNodes, defaultMaxClockOffset)
			if len(s) < 2 {
				t.Fatalf("seed %d, %v: %d faults, want both a leave and a removal:\n%s", seed, d, len(s), describeSchedule(ringNemesis, s))
			}
			if Spares(s) != len(s) {
				t.Fatalf("seed %d: %d spares for %d faults", seed, Spares(s), len(s))
			}
			members := []int{0, 1, 2}
			var gone []int
			for k, f := range s {
				if f.Join != initialNodes+k {
					t.Fatalf("seed %d fault %d joins %s, want a fresh node %s", seed, k, ID(f.Join), ID(initialNodes+k))
				}
				if k > 0 && f.Exit == s[k-1].Exit {
					t.Fatalf("seed %d: faults %d and %d both %s", seed, k-1, k, f.Exit)
				}
				if !slices.Contains(members, f.Node) || slices.Contains(gone, f.Node) {
					t.Fatalf("seed %d fault %d takes %s away, not a member (%v):\n%s", seed, k, ID(f.Node), members, describeSchedule(ringNemesis, s))
				}
				if f.Exit == "leave" && f.Node >= initialNodes && slices.ContainsFunc(members, func(i int) bool { return i < initialNodes }) {
					t.Fatalf("seed %d fault %d: %s leaves while an initial node is a member", seed, k, ID(f.Node))
				}
				if f.Heal > d-ringNemesis.tail {
					t.Fatalf("seed %d fault %d heals at %v, within the last %v", seed, k, f.Heal, ringNemesis.tail)
				}
				members = append(slices.DeleteFunc(members, func(i int) bool { return i == f.Node }), f.Join)
				gone = append(gone, f.Node)
				if len(members) != initialNodes {
					t.Fatalf("seed %d: %d members after fault %d", seed, len(members), k)
				}
			}
		}
	}
}
