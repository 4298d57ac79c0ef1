package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

var allStates = []ring.State{ring.Joining, ring.Normal, ring.Leaving, ring.Left, ring.Removed}

func randomEntry(rng *rand.Rand, ids int) Entry {
	return Entry{
		ID:         fmt.Sprintf("n%d", rng.IntN(ids)),
		GRPCAddr:   fmt.Sprintf("10.0.0.%d:7001", rng.IntN(3)),
		GossipAddr: fmt.Sprintf("10.0.0.%d:7101", rng.IntN(3)),
		PeerAddr:   fmt.Sprintf("10.0.0.%d:7301", rng.IntN(3)),
		RESPAddr:   fmt.Sprintf("10.0.0.%d:7201", rng.IntN(2)),
		VNodes:     1 + rng.IntN(3),
		TokensOf:   []string{"", "", "r1", "r2"}[rng.IntN(4)],
		State:      allStates[rng.IntN(len(allStates))],
		Version:    uint64(rng.IntN(4)),
	}
}

func mergeAllOf(es []Entry) table {
	t := table{}
	t.mergeAll(es)
	return t
}

func equalTables(a, b table) bool {
	if len(a) != len(b) {
		return false
	}
	for id, e := range a {
		if b[id] != e {
			return false
		}
	}
	return true
}

// The merge is a join of a semilattice: merging the same entries in any
// order, any grouping and with any duplication gives the same table.
func TestTable_merge_anyOrderAnyDuplication(t *testing.T) {
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		es := make([]Entry, 1+rng.IntN(30))
		for i := range es {
			es[i] = randomEntry(rng, 4)
		}
		want := mergeAllOf(es)
		for range 20 {
			// Shuffle, duplicate some entries, and merge in two halves
			// whose results are then merged (grouping).
			perm := append([]Entry(nil), es...)
			for range rng.IntN(len(es) + 1) {
				perm = append(perm, es[rng.IntN(len(es))])
			}
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			cut := rng.IntN(len(perm) + 1)
			left, right := mergeAllOf(perm[:cut]), mergeAllOf(perm[cut:])
			got := table{}
			got.mergeAll(right.sorted())
			got.mergeAll(left.sorted())
			if !equalTables(got, want) {
				t.Fatalf("merge depends on order:\n got %v\nwant %v", got.sorted(), want.sorted())
			}
		}
	})
}

func TestCompareEntries_commutativeAssociativeIdempotent(t *testing.T) {
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		pick := func(a, b Entry) Entry {
			if compareEntries(a, b) >= 0 {
				return a
			}
			return b
		}
		for range 200 {
			a, b, c := randomEntry(rng, 1), randomEntry(rng, 1), randomEntry(rng, 1)
			if pick(a, b) != pick(b, a) {
				t.Fatalf("not commutative: %+v %+v", a, b)
			}
			if pick(pick(a, b), c) != pick(a, pick(b, c)) {
				t.Fatalf("not associative: %+v %+v %+v", a, b, c)
			}
			if pick(a, a) != a {
				t.Fatalf("not idempotent: %+v", a)
			}
			if (compareEntries(a, b) == 0) != (a == b) {
				t.Fatalf("compare is 0 for different entries (or not for equal ones): %+v %+v", a, b)
			}
		}
	})
}

func TestCompareEntries_order(t *testing.T) {
	base := Entry{ID: "n1", GRPCAddr: "a:1", GossipAddr: "a:2", VNodes: 8, State: ring.Normal, Version: 5}
	with := func(f func(*Entry)) Entry { e := base; f(&e); return e }
	tests := map[string]struct {
		newer, older Entry
	}{
		"higher version wins": {
			newer: with(func(e *Entry) { e.Version = 6; e.State = ring.Joining }),
			older: base,
		},
		"equal version: leaving beats normal": {
			newer: with(func(e *Entry) { e.State = ring.Leaving }), older: base,
		},
		"equal version: normal beats joining": {
			newer: base, older: with(func(e *Entry) { e.State = ring.Joining }),
		},
		"equal version: left beats leaving": {
			newer: with(func(e *Entry) { e.State = ring.Left }), older: with(func(e *Entry) { e.State = ring.Leaving }),
		},
		"equal version: removed beats left": {
			newer: with(func(e *Entry) { e.State = ring.Removed }), older: with(func(e *Entry) { e.State = ring.Left }),
		},
		"removed is final: beats a higher version": {
			newer: with(func(e *Entry) { e.State = ring.Removed }),
			older: with(func(e *Entry) { e.Version = 99 }),
		},
		"equal version and state: grpc address bytewise": {
			newer: with(func(e *Entry) { e.GRPCAddr = "b:1" }), older: base,
		},
		"then gossip address bytewise": {
			newer: with(func(e *Entry) { e.GossipAddr = "b:2" }), older: base,
		},
		"then peer address bytewise": {
			newer: with(func(e *Entry) { e.PeerAddr = "b:3" }), older: base,
		},
		"then RESP address bytewise": {
			newer: with(func(e *Entry) { e.RESPAddr = "b:4" }), older: base,
		},
		"then vnodes": {
			newer: with(func(e *Entry) { e.VNodes = 9 }), older: base,
		},
		"then the token seed bytewise": {
			newer: with(func(e *Entry) { e.TokensOf = "n3" }), older: base,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if compareEntries(tc.newer, tc.older) <= 0 || compareEntries(tc.older, tc.newer) >= 0 {
				t.Fatalf("want %+v newer than %+v", tc.newer, tc.older)
			}
			tb := table{}
			tb.merge(tc.older)
			if !tb.merge(tc.newer) || tb["n1"] != tc.newer {
				t.Fatalf("merge kept %+v, want %+v", tb["n1"], tc.newer)
			}
			if tb.merge(tc.older) {
				t.Fatalf("merging the older entry changed the table")
			}
		})
	}
}

func TestTable_merge_dropsInvalidEntries(t *testing.T) {
	tests := map[string]Entry{
		"empty id":            {VNodes: 1, State: ring.Normal},
		"no state":            {ID: "n1", VNodes: 1},
		"normal, no vnodes":   {ID: "n1", State: ring.Normal},
		"too many vnodes":     {ID: "n1", VNodes: ring.MaxVNodes + 1, State: ring.Normal},
		"state out of range":  {ID: "n1", VNodes: 1, State: ring.Removed + 1},
		"tokens of itself":    {ID: "n1", VNodes: 1, State: ring.Normal, TokensOf: "n1"},
		"token seed too long": {ID: "n1", VNodes: 1, State: ring.Normal, TokensOf: string(make([]byte, maxIDLen+1))},
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			tb := table{}
			if tb.merge(e) || len(tb) != 0 {
				t.Fatalf("invalid entry %+v was merged", e)
			}
		})
	}
}

func TestEntry_DialAddr(t *testing.T) {
	tests := map[string]struct {
		e    Entry
		want string
	}{
		"peer address":                    {Entry{GRPCAddr: "a:1", PeerAddr: "a:3"}, "a:3"},
		"older entry falls back to gRPC":  {Entry{GRPCAddr: "a:1"}, "a:1"},
		"no address at all stays unknown": {Entry{}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.e.DialAddr(); got != tc.want {
				t.Errorf("DialAddr() = %q, want %q", got, tc.want)
			}
		})
	}
}
