package conflict_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
)

// checkJoin checks, on trials random picks from states, that Merge is
// commutative, associative and idempotent, absorbs what it already holds,
// and changes neither input.
func checkJoin(tb testing.TB, p conflict.Policy, states []*conflict.Object, rng *rand.Rand, trials int) {
	tb.Helper()
	if len(states) == 0 {
		return
	}
	pick := func() *conflict.Object { return states[rng.IntN(len(states))] }
	for range trials {
		x, y, z := pick(), pick(), pick()
		xb, yb, zb := x.Marshal(), y.Marshal(), z.Marshal()
		xy := conflict.Merge(p, x, y)
		requireSameBytes(tb, p.String()+": commutative: x⊔y vs y⊔x", xy, conflict.Merge(p, y, x))
		requireSameBytes(tb, p.String()+": associative: (x⊔y)⊔z vs x⊔(y⊔z)",
			conflict.Merge(p, xy, z), conflict.Merge(p, x, conflict.Merge(p, y, z)))
		if got := conflict.Merge(p, x, x).Marshal(); !bytes.Equal(got, xb) {
			tb.Fatalf("%v: idempotent: x⊔x differs from x\n  x:   %s\n  x⊔x: %s", p, dump(x), dump(conflict.Merge(p, x, x)))
		}
		requireSameBytes(tb, p.String()+": duplicate: (x⊔y)⊔y vs x⊔y", conflict.Merge(p, xy, y), xy)
		if !bytes.Equal(x.Marshal(), xb) || !bytes.Equal(y.Marshal(), yb) || !bytes.Equal(z.Marshal(), zb) {
			tb.Fatalf("%v: Merge changed an input", p)
		}
	}
}

// checkPermutations merges objs in every order (up to 6 objects) and in
// random trees with random duplicates, and requires the same bytes each
// time.
func checkPermutations(tb testing.TB, p conflict.Policy, objs []*conflict.Object, rng *rand.Rand) []byte {
	tb.Helper()
	want := merged(p, objs...)
	wantBytes := want.Marshal()
	if len(objs) <= 6 {
		idx := make([]int, len(objs))
		for i := range idx {
			idx[i] = i
		}
		permute(idx, 0, func(order []int) {
			got := &conflict.Object{}
			for _, i := range order {
				got = conflict.Merge(p, got, objs[i])
			}
			if !bytes.Equal(got.Marshal(), wantBytes) {
				tb.Fatalf("%v: merging in order %v differs from in order:\n  %s\n  %s", p, order, dump(got), dump(want))
			}
		})
	}
	for range 20 {
		// Every object at least once, some twice, merged pairwise in a
		// random tree.
		pool := slices.Clone(objs)
		for range rng.IntN(len(objs) + 1) {
			pool = append(pool, objs[rng.IntN(len(objs))])
		}
		for len(pool) > 1 {
			i := rng.IntN(len(pool))
			a := pool[i]
			pool = slices.Delete(pool, i, i+1)
			j := rng.IntN(len(pool))
			pool[j] = conflict.Merge(p, a, pool[j])
		}
		if !bytes.Equal(pool[0].Marshal(), wantBytes) {
			tb.Fatalf("%v: a random merge tree with duplicates differs:\n  %s\n  %s", p, dump(pool[0]), dump(want))
		}
	}
	return wantBytes
}

// permute calls f with every permutation of idx[k:] (Heap's order does not
// matter here: plain recursive swapping).
func permute(idx []int, k int, f func([]int)) {
	if k == len(idx) {
		f(idx)
		return
	}
	for i := k; i < len(idx); i++ {
		idx[k], idx[i] = idx[i], idx[k]
		permute(idx, k+1, f)
		idx[k], idx[i] = idx[i], idx[k]
	}
}

// Property 1: Merge is a join on states from histories.
func TestMerge_join_randomHistories(t *testing.T) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
				m := randomModel(t, rng, modelConfig{policy: p, snapshots: true})
				m.run(rng, 40+rng.IntN(40))
				checkJoin(t, p, m.states, rng, 60)
			})
		})
	}
}

// Property 1: merging every replica's state, in every order, with any
// duplication and grouping, gives the same bytes; so does convergence by
// gossip.
func TestMerge_allOrders_randomHistories(t *testing.T) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
				m := randomModel(t, rng, modelConfig{policy: p})
				m.run(rng, 40+rng.IntN(40))
				want := checkPermutations(t, p, m.objects(), rng)
				if got := m.converge().Marshal(); !bytes.Equal(got, want) {
					t.Fatalf("gossip converged to other bytes than merging everything")
				}
			})
		})
	}
}

// Properties 2 and 3 (Siblings): after every step, each replica holds
// exactly the versions no write it knows has replaced, where a put with a
// context replaces exactly what its read saw and a blind put replaces
// nothing; after convergence, the same everywhere.
func TestHistory_Siblings_putReplacesExactlySeen(t *testing.T) {
	var concurrent, replacedElsewhere int
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		m := randomModel(t, rng, modelConfig{policy: conflict.Siblings, check: checkRegister})
		m.run(rng, 40+rng.IntN(40))
		if len(m.converge().Reg.Siblings) > 1 {
			concurrent++
		}
		// A read-modify-write that replaced a version written at another
		// replica.
		for _, w := range m.events {
			if w.kind == opPut && slices.ContainsFunc(m.events, func(e *event) bool { return e.register() && e.rep != w.rep && w.replaces(e) }) {
				replacedElsewhere++
				break
			}
		}
	})
	if len(seeds()) >= 20 && (concurrent == 0 || replacedElsewhere == 0) {
		t.Errorf("histories too tame: %d converged with siblings, %d replaced a remote version", concurrent, replacedElsewhere)
	}
}

// Property 4 and 5 (LWW): every replica holds the latest (hlc, actor) of the
// versions not replaced, whatever the merge order; after convergence all
// agree. Then the replica whose wall clock is 300ms behind reads and writes:
// its write wins everywhere.
func TestHistory_LWW_sameWinnerEverywhere(t *testing.T) {
	lifted := 0
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		m := randomModel(t, rng, modelConfig{policy: conflict.LWW, check: checkRegister | checkKind})
		m.run(rng, 40+rng.IntN(40))
		checkPermutations(t, conflict.LWW, m.objects(), rng)
		m.converge()

		lag := m.reps[0] // 300ms behind the true time
		if lag.skew != -300*time.Millisecond {
			t.Fatalf("replica 0 skew %v", lag.skew)
		}
		m.put(lag, lag.read())
		rmw := m.events[len(m.events)-1]
		if rmw.ts.Wall > m.now.Add(lag.skew).UnixNano() {
			lifted++ // the lagging wall clock alone would have lost
		}
		m.converge()
		for _, r := range m.reps {
			if got := strs(r.obj.Values()); !slices.Equal(got, []string{string(rmw.value)}) {
				t.Fatalf("replica %d reads %q after the read-modify-write %v of the lagging replica", r.id, got, rmw)
			}
		}
	})
	if len(seeds()) >= 20 && lifted == 0 {
		t.Errorf("no history had the lagging replica write above its own wall clock: the test exercised nothing")
	}
}

// Property 6: the set part is an add-wins observed-remove set: each replica
// keeps exactly the adds no remove, delete or re-add it knows had seen.
func TestHistory_ORSet_addWins(t *testing.T) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
				m := randomModel(t, rng, modelConfig{policy: p, check: checkSet})
				m.run(rng, 40+rng.IntN(40))
				m.converge()
			})
		})
	}
}

// Property 8: the key reads as the type with the later live version; a
// tombstone is not live; Values, Members, Live and HiddenPart agree.
func TestHistory_kindFollowsLatestLive(t *testing.T) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
				m := randomModel(t, rng, modelConfig{policy: p, check: checkKind})
				m.run(rng, 40+rng.IntN(40))
				m.converge()
			})
		})
	}
}

// Per-key causal contexts over node-wide counters (package doc): a
// replica's contexts contain exactly the dots of the writes it knows,
// although each actor's counters also advance for other keys.
func TestHistory_contextsExact(t *testing.T) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
				m := randomModel(t, rng, modelConfig{policy: p, check: checkContexts})
				m.run(rng, 40+rng.IntN(40))
				m.converge()
			})
		})
	}
}
