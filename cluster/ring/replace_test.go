package ring

import (
	"slices"
	"testing"
)

// replaced returns ms with the member old removed and a member id taking
// its tokens (TokensOf old, same vnodes) in state s.
func replaced(ms []Member, old, id string, s State) []Member {
	out := withState(ms, old, Removed)
	for _, m := range ms {
		if m.ID == old {
			out = append(out, Member{ID: id, TokensOf: old, VNodes: m.VNodes, State: s})
		}
	}
	return out
}

// A replacer owns exactly the partitions the replaced member owned, in the
// same preference positions, once it is normal; while it joins, the future
// view is that ring and it is pending on exactly those partitions.
func TestNew_replacerOwnsReplacedMembersPartitions(t *testing.T) {
	tests := map[string]struct {
		members []Member
		old, id string
	}{
		"4 nodes":              {members(ids(4)...), "n3", "n5"},
		"10 nodes":             {members(ids(10)...), "n7", "n11"},
		"mixed vnodes":         {[]Member{{ID: "a", VNodes: 16, State: Normal}, {ID: "b", VNodes: 64, State: Normal}, {ID: "c", VNodes: 200, State: Normal}, {ID: "d", VNodes: 7, State: Normal}}, "c", "e"},
		"replacer sorts first": {members("m1", "m2", "m3", "m4"), "m3", "a0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := mustNew(t, tc.members, testN, testQ)
			rename := func(reps []string) []string {
				out := slices.Clone(reps)
				for i, id := range out {
					if id == tc.old {
						out[i] = tc.id
					}
				}
				return out
			}
			after := mustNew(t, replaced(tc.members, tc.old, tc.id, Normal), testN, testQ)
			joining := mustNew(t, replaced(tc.members, tc.old, tc.id, Joining), testN, testQ)
			for p := range testQ {
				if got, want := after.Replicas(p), rename(before.Replicas(p)); !slices.Equal(got, want) {
					t.Fatalf("partition %d: replicas %v, want %v (those before, %s -> %s)", p, got, want, tc.old, tc.id)
				}
				if got, want := joining.Future(p), rename(before.Replicas(p)); !slices.Equal(got, want) {
					t.Fatalf("partition %d: future replicas while joining %v, want %v", p, got, want)
				}
				wantPending := slices.Contains(before.Replicas(p), tc.old)
				if gotPending := slices.Contains(joining.Pending(p), tc.id); gotPending != wantPending {
					t.Fatalf("partition %d: replacer pending = %v, want %v", p, gotPending, wantPending)
				}
			}
			if got, want := after.PartitionsOf(tc.id), before.PartitionsOf(tc.old); !slices.Equal(got, want) {
				t.Fatalf("PartitionsOf(%s) = %d partitions, want the %d of %s", tc.id, len(got), len(want), tc.old)
			}
			if got, want := after.Ownership(tc.id), before.Ownership(tc.old); got != want {
				t.Fatalf("Ownership(%s) = %v, want %v", tc.id, got, want)
			}
			if got, want := joining.FuturePartitionsOf(tc.id), before.PartitionsOf(tc.old); !slices.Equal(got, want) {
				t.Fatalf("FuturePartitionsOf(replacer) while joining = %d partitions, want %d", len(got), len(want))
			}
			if sh := after.Shadowed(); len(sh) != 0 {
				t.Fatalf("Shadowed() = %v, want none", sh)
			}
		})
	}
}

// A replacer of a replacer inherits the token seed: it owns what the first
// owned.
func TestNew_replacerOfReplacer(t *testing.T) {
	base := members(ids(5)...)
	first := replaced(base, "n2", "r1", Normal)
	second := withState(first, "r1", Removed)
	second = append(second, Member{ID: "r2", TokensOf: "n2", VNodes: testVNodes, State: Normal})
	a, b := mustNew(t, first, testN, testQ), mustNew(t, second, testN, testQ)
	if got, want := b.PartitionsOf("r2"), a.PartitionsOf("r1"); !slices.Equal(got, want) {
		t.Fatalf("PartitionsOf(r2) = %d partitions, want r1's %d", len(got), len(want))
	}
}

// Two counted members with one token seed: one keeps the tokens (the
// member whose id is the seed, else the smallest id) and the other owns
// nothing, so the ring never splits a token between two members.
func TestNew_sameTokenSeedShadowsOne(t *testing.T) {
	base := members(ids(4)...)
	tests := map[string]struct {
		members []Member
		keeper  string
		shadow  string
	}{
		"original still counted": {
			append(slices.Clone(base), Member{ID: "n0", TokensOf: "n3", VNodes: testVNodes, State: Joining}), "n3", "n0",
		},
		"two replacers": {
			append(withState(base, "n3", Removed),
				Member{ID: "n6", TokensOf: "n3", VNodes: testVNodes, State: Joining},
				Member{ID: "n5", TokensOf: "n3", VNodes: testVNodes, State: Normal}), "n5", "n6",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := mustNew(t, tc.members, testN, testQ)
			if got := r.Shadowed(); !slices.Equal(got, []string{tc.shadow}) {
				t.Fatalf("Shadowed() = %v, want [%s]", got, tc.shadow)
			}
			if got := r.FuturePartitionsOf(tc.shadow); len(got) != 0 {
				t.Fatalf("shadowed %s will replicate %d partitions, want 0", tc.shadow, len(got))
			}
			want := mustNew(t, members(ids(4)...), testN, testQ).PartitionsOf("n3")
			if got := r.FuturePartitionsOf(tc.keeper); !slices.Equal(got, want) {
				t.Fatalf("keeper %s will replicate %d partitions, want n3's %d", tc.keeper, len(got), len(want))
			}
		})
	}
}
