package ring

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestNew_invalidArguments(t *testing.T) {
	ok := Member{ID: "n1", VNodes: 64, State: Normal}
	tests := map[string]struct {
		members []Member
		n, q    int
		want    error
	}{
		"n zero":             {[]Member{ok}, 0, 1024, ErrInvalidN},
		"q zero":             {[]Member{ok}, 3, 0, ErrInvalidQ},
		"q not power of two": {[]Member{ok}, 3, 1000, ErrInvalidQ},
		"q too large":        {[]Member{ok}, 3, MaxQ * 2, ErrInvalidQ},
		"empty id":           {[]Member{{VNodes: 1, State: Normal}}, 3, 1024, ErrInvalidMember},
		"zero state":         {[]Member{{ID: "n1", VNodes: 1}}, 3, 1024, ErrInvalidMember},
		"unknown state":      {[]Member{{ID: "n1", VNodes: 1, State: Removed + 1}}, 3, 1024, ErrInvalidMember},
		"normal, 0 vnodes":   {[]Member{{ID: "n1", State: Normal}}, 3, 1024, ErrInvalidMember},
		"joining, 0 vnodes":  {[]Member{{ID: "n1", State: Joining}}, 3, 1024, ErrInvalidMember},
		"negative vnodes":    {[]Member{{ID: "n1", VNodes: -1, State: Left}}, 3, 1024, ErrInvalidMember},
		"too many vnodes":    {[]Member{{ID: "n1", VNodes: MaxVNodes + 1, State: Normal}}, 3, 1024, ErrInvalidMember},
		"duplicate id":       {[]Member{ok, {ID: "n1", VNodes: 8, State: Joining}}, 3, 1024, ErrDuplicateMember},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := New(tc.members, tc.n, tc.q)
			if !errors.Is(err, tc.want) {
				t.Fatalf("New = %v, %v; want error wrapping %v", r, err, tc.want)
			}
		})
	}
}

func TestNew_validEdgeCases(t *testing.T) {
	tests := map[string]struct {
		members []Member
		n, q    int
		wantN   int
	}{
		"no members":            {nil, 3, 1024, 0},
		"q of 1":                {members(ids(4)...), 3, 1, 3},
		"left with 0 vnodes":    {append(members("n1"), Member{ID: "n2", State: Left}), 3, 16, 1},
		"removed with 0 vnodes": {append(members("n1"), Member{ID: "n2", State: Removed}), 3, 16, 1},
		"one vnode each":        {[]Member{{ID: "a", VNodes: 1, State: Normal}, {ID: "b", VNodes: 1, State: Normal}}, 2, 8, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := mustNew(t, tc.members, tc.n, tc.q)
			if r.N() != tc.wantN || r.Q() != tc.q {
				t.Fatalf("N, Q = %d, %d; want %d, %d", r.N(), r.Q(), tc.wantN, tc.q)
			}
			for p := range tc.q {
				if got := len(r.Replicas(p)); got != tc.wantN {
					t.Fatalf("partition %d has %d replicas, want %d", p, got, tc.wantN)
				}
			}
		})
	}
}

func TestRing_Replicas_distinctCountedNodes(t *testing.T) {
	tests := map[string]struct {
		members []Member
		n       int
	}{
		"1 node, n=3":           {members("n1"), 3},
		"3 nodes, n=3":          {members(ids(3)...), 3},
		"5 nodes, n=1":          {members(ids(5)...), 1},
		"10 nodes, n=3":         {members(ids(10)...), 3},
		"10 nodes, n=5":         {members(ids(10)...), 5},
		"10 nodes, n=10":        {members(ids(10)...), 10},
		"mixed states, n=3":     {mixed(), 3},
		"few vnodes, 40 nodes":  {withVNodes(members(ids(40)...), 2), 3},
		"one heavy, four light": {withVNodes(members(ids(5)...), 1, 256), 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := mustNew(t, tc.members, tc.n, testQ)
			counted := map[string]bool{}
			for _, m := range tc.members {
				counted[m.ID] = m.State.current()
			}
			want := min(tc.n, countTrue(counted))
			if r.N() != want {
				t.Fatalf("N = %d, want %d", r.N(), want)
			}
			for p := range testQ {
				reps := r.Replicas(p)
				if len(reps) != want {
					t.Fatalf("partition %d: %d replicas %v, want %d", p, len(reps), reps, want)
				}
				seen := map[string]bool{}
				for _, id := range reps {
					if seen[id] || !counted[id] {
						t.Fatalf("partition %d: replicas %v repeat or include a member not counted", p, reps)
					}
					seen[id] = true
				}
			}
		})
	}
}

// The replicas of every partition are the first N distinct counted members
// clockwise from the partition's start, computed here the slow way.
func TestRing_Replicas_matchReferenceWalk(t *testing.T) {
	tests := map[string]struct {
		members []Member
		n, q    int
	}{
		"10 nodes, q=1024":    {members(ids(10)...), 3, 1024},
		"mixed, q=1024":       {mixed(), 3, 1024},
		"3 nodes, q=8":        {members(ids(3)...), 2, 8},
		"7 nodes, 1 vnode":    {withVNodes(members(ids(7)...), 1), 3, 64},
		"q=1, whole ring":     {members(ids(5)...), 3, 1},
		"mixed, n=4, q=256":   {mixed(), 4, 256},
		"all joining, q=1024": {allState(members(ids(4)...), Joining), 3, 1024},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := mustNew(t, tc.members, tc.n, tc.q)
			curToks, curIDs := referenceTokens(tc.members, State.current)
			futToks, futIDs := referenceTokens(tc.members, State.future)
			for p := range tc.q {
				if got, want := r.Replicas(p), referenceWalk(curToks, curIDs, tc.n, tc.q, p); !slices.Equal(got, want) {
					t.Fatalf("Replicas(%d) = %v, want %v", p, got, want)
				}
				if got, want := r.Future(p), referenceWalk(futToks, futIDs, tc.n, tc.q, p); !slices.Equal(got, want) {
					t.Fatalf("Future(%d) = %v, want %v", p, got, want)
				}
			}
		})
	}
}

// referenceWalk finds, by a linear scan of toks (from referenceTokens), the
// first n distinct members clockwise from partition p's start.
func referenceWalk(toks []token, byIndex map[int32]string, n, q, p int) []string {
	start := uint64(0)
	if q > 1 {
		start = uint64(p) * (^uint64(0)/uint64(q) + 1) // p * 2^64/q
	}
	first := len(toks)
	for i, tk := range toks {
		if tk.pos >= start {
			first = i
			break
		}
	}
	var out []string
	for i := 0; i < len(toks) && len(out) < n; i++ {
		id := byIndex[toks[(first+i)%len(toks)].member]
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// referenceTokens returns the tokens of the members counted by counts,
// ordered by position and then id, and the id of each member index.
func referenceTokens(ms []Member, counts func(State) bool) ([]token, map[int32]string) {
	var toks []token
	byIndex := map[int32]string{}
	for i, m := range ms {
		if counts(m.State) {
			toks = appendTokens(toks, m.ID, int32(i), m.VNodes)
			byIndex[int32(i)] = m.ID
		}
	}
	sort.Slice(toks, func(a, b int) bool {
		if toks[a].pos != toks[b].pos {
			return toks[a].pos < toks[b].pos
		}
		return byIndex[toks[a].member] < byIndex[toks[b].member]
	})
	return toks, byIndex
}

func TestNew_memberOrderDoesNotMatter(t *testing.T) {
	tests := map[string][]Member{
		"10 normal": members(ids(10)...),
		"mixed":     mixed(),
	}
	for name, ms := range tests {
		t.Run(name, func(t *testing.T) {
			want := mustNew(t, ms, testN, testQ)
			for seed := range uint64(5) {
				shuffled := slices.Clone(ms)
				rng := rand.New(rand.NewPCG(seed, 1))
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				got := mustNew(t, shuffled, testN, testQ)
				if !got.Equal(want) {
					t.Fatalf("seed %d: shuffled ring not Equal", seed)
				}
				for p := range testQ {
					if !slices.Equal(got.Replicas(p), want.Replicas(p)) || !slices.Equal(got.Future(p), want.Future(p)) {
						t.Fatalf("seed %d, partition %d: replicas %v / %v, want %v / %v",
							seed, p, got.Replicas(p), got.Future(p), want.Replicas(p), want.Future(p))
					}
				}
			}
		})
	}
}

func TestRing_N_cappedAtCountedMembers(t *testing.T) {
	tests := map[string]struct {
		members          []Member
		n                int
		wantN, wantFutN  int
		wantOwnershipSum float64
	}{
		"2 normal, n=3":              {members("a", "b"), 3, 2, 2, 1},
		"2 normal 1 joining, n=3":    {withState(members("a", "b", "c"), "c", Joining), 3, 2, 3, 1},
		"2 normal 1 leaving, n=3":    {withState(members("a", "b", "c"), "c", Leaving), 3, 3, 2, 1},
		"3 normal 2 left, n=5":       {withState(withState(members(ids(5)...), "n4", Left), "n5", Removed), 5, 3, 3, 1},
		"all joining (bootstrap)":    {allState(members("a", "b"), Joining), 3, 0, 2, 0},
		"5 normal, n=3":              {members(ids(5)...), 3, 3, 3, 1},
		"5 normal, n=7":              {members(ids(5)...), 7, 5, 5, 1},
		"only left and removed, n=3": {withState(allState(members("a", "b"), Left), "b", Removed), 3, 0, 0, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := mustNew(t, tc.members, tc.n, testQ)
			if r.N() != tc.wantN {
				t.Errorf("N = %d, want %d", r.N(), tc.wantN)
			}
			if got := len(r.Future(0)); got != tc.wantFutN {
				t.Errorf("len(Future(0)) = %d, want %d", got, tc.wantFutN)
			}
			sum := 0.0
			for _, m := range tc.members {
				sum += r.Ownership(m.ID)
			}
			if d := sum - tc.wantOwnershipSum; d > 1e-9 || d < -1e-9 {
				t.Errorf("ownerships sum to %v, want %v", sum, tc.wantOwnershipSum)
			}
		})
	}
}

// Where a member appears, by its state.
func TestRing_states(t *testing.T) {
	base := members(ids(6)...)
	tests := map[string]struct {
		state                          State
		inReplicas, inFuture, inWrites bool
	}{
		"joining": {Joining, false, true, true},
		"normal":  {Normal, true, true, true},
		"leaving": {Leaving, true, false, true},
		"left":    {Left, false, false, false},
		"removed": {Removed, false, false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			const id = "n6"
			r := mustNew(t, withState(base, id, tc.state), testN, testQ)
			var inRep, inFut, inPend, inWrite int
			for p := range testQ {
				inRep += b2i(slices.Contains(r.Replicas(p), id))
				inFut += b2i(slices.Contains(r.Future(p), id))
				inPend += b2i(slices.Contains(r.Pending(p), id))
				inWrite += b2i(slices.Contains(r.WriteTargets(p), id))
				if slices.Contains(r.Replicas(p), id) != r.IsReplica(p, id) {
					t.Fatalf("partition %d: IsReplica disagrees with Replicas", p)
				}
			}
			check := func(what string, count int, want bool) {
				t.Helper()
				if (count > 0) != want {
					t.Errorf("%s holds %s in %d partitions, want it there: %v", what, id, count, want)
				}
			}
			check("Replicas", inRep, tc.inReplicas)
			check("Future", inFut, tc.inFuture)
			check("WriteTargets", inWrite, tc.inWrites)
			check("Pending", inPend, tc.state == Joining)
			check("PartitionsOf", len(r.PartitionsOf(id)), tc.inReplicas)
			check("FuturePartitionsOf", len(r.FuturePartitionsOf(id)), tc.inFuture)
			if tc.state == Joining && inPend != inFut {
				t.Errorf("joining %s pending in %d partitions, future replica of %d: want equal", id, inPend, inFut)
			}
			if got := r.Ownership(id) > 0; got != tc.inReplicas {
				t.Errorf("Ownership(%s) = %v", id, r.Ownership(id))
			}
		})
	}
}

// Left and Removed members leave the ring exactly as if they were absent.
func TestNew_leftAndRemovedAreIgnored(t *testing.T) {
	without := mustNew(t, members(ids(5)...), testN, testQ)
	ms := append(members(ids(5)...), Member{ID: "gone", VNodes: 64, State: Left}, Member{ID: "x", VNodes: 64, State: Removed})
	with := mustNew(t, ms, testN, testQ)
	for p := range testQ {
		if !slices.Equal(with.WriteTargets(p), without.WriteTargets(p)) || !slices.Equal(with.Future(p), without.Future(p)) {
			t.Fatalf("partition %d: %v / %v, want %v / %v", p, with.WriteTargets(p), with.Future(p), without.WriteTargets(p), without.Future(p))
		}
	}
}

// The future view is the ring once joins and leaves complete: joining
// members Normal, leaving ones Left.
func TestRing_Future_isRingAfterTransitions(t *testing.T) {
	ms := mixed()
	r := mustNew(t, ms, testN, testQ)
	done := slices.Clone(ms)
	for i := range done {
		switch done[i].State {
		case Joining:
			done[i].State = Normal
		case Leaving:
			done[i].State = Left
		}
	}
	after := mustNew(t, done, testN, testQ)
	for p := range testQ {
		if !slices.Equal(r.Future(p), after.Replicas(p)) {
			t.Fatalf("partition %d: Future %v, ring after transitions %v", p, r.Future(p), after.Replicas(p))
		}
	}
	for _, m := range ms {
		if !slices.Equal(r.FuturePartitionsOf(m.ID), after.PartitionsOf(m.ID)) {
			t.Fatalf("%s: FuturePartitionsOf differs from PartitionsOf after transitions", m.ID)
		}
	}
}

func TestRing_WriteTargets_areReplicasThenPending(t *testing.T) {
	r := mustNew(t, mixed(), testN, testQ)
	moving := 0
	for p := range testQ {
		var pend []string
		for _, id := range r.Future(p) {
			if !slices.Contains(r.Replicas(p), id) {
				pend = append(pend, id)
			}
		}
		if !slices.Equal(r.Pending(p), pend) {
			t.Fatalf("partition %d: Pending %v, want %v", p, r.Pending(p), pend)
		}
		if want := append(slices.Clone(r.Replicas(p)), pend...); !slices.Equal(r.WriteTargets(p), want) {
			t.Fatalf("partition %d: WriteTargets %v, want %v", p, r.WriteTargets(p), want)
		}
		moving += b2i(len(pend) > 0)
	}
	if moving == 0 {
		t.Fatal("no partition moves in a ring with joining and leaving members")
	}
}

func TestRing_PartitionsOf_matchesReplicas(t *testing.T) {
	r := mustNew(t, mixed(), testN, testQ)
	total := 0
	for _, m := range r.Members() {
		parts := r.PartitionsOf(m.ID)
		total += len(parts)
		if !slices.IsSorted(parts) {
			t.Fatalf("PartitionsOf(%s) not ascending", m.ID)
		}
		for p := range testQ {
			if slices.Contains(parts, p) != r.IsReplica(p, m.ID) {
				t.Fatalf("PartitionsOf(%s) and IsReplica(%d) disagree", m.ID, p)
			}
			if _, in := slices.BinarySearch(r.FuturePartitionsOf(m.ID), p); in != slices.Contains(r.Future(p), m.ID) {
				t.Fatalf("FuturePartitionsOf(%s) and Future(%d) disagree", m.ID, p)
			}
		}
		if got, want := r.Ownership(m.ID), float64(len(parts))/float64(testQ*r.N()); got != want {
			t.Fatalf("Ownership(%s) = %v, want %v", m.ID, got, want)
		}
	}
	if total != testQ*r.N() {
		t.Fatalf("partitions of all members add up to %d, want Q*N = %d", total, testQ*r.N())
	}
	if r.PartitionsOf("unknown") != nil || r.Ownership("unknown") != 0 {
		t.Fatal("an unknown id replicates something")
	}
}

func TestRing_outOfRangePartition(t *testing.T) {
	r := mustNew(t, members(ids(3)...), testN, testQ)
	for _, p := range []int{-1, testQ, 1 << 40} {
		if r.Replicas(p) != nil || r.Future(p) != nil || r.Pending(p) != nil || r.WriteTargets(p) != nil || r.IsReplica(p, "n1") {
			t.Fatalf("partition %d out of range has replicas", p)
		}
	}
}

func TestRing_Members_sortedCopy(t *testing.T) {
	r := mustNew(t, members("c", "a", "b"), testN, testQ)
	got := r.Members()
	if ids := []string{got[0].ID, got[1].ID, got[2].ID}; !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("Members() ids = %v, want sorted", ids)
	}
	got[0].State = Removed
	if r.Members()[0].State != Normal {
		t.Fatal("modifying Members() changed the ring")
	}
	parts := r.PartitionsOf("a")
	parts[0] = -7
	if r.PartitionsOf("a")[0] == -7 {
		t.Fatal("modifying PartitionsOf() changed the ring")
	}
}

func TestRing_Equal(t *testing.T) {
	base := mustNew(t, members(ids(4)...), 3, testQ)
	tests := map[string]struct {
		a, b *Ring
		want bool
	}{
		"same ring":           {base, base, true},
		"same members":        {base, mustNew(t, members("n4", "n3", "n2", "n1"), 3, testQ), true},
		"other n":             {base, mustNew(t, members(ids(4)...), 2, testQ), false},
		"other q":             {base, mustNew(t, members(ids(4)...), 3, 512), false},
		"other state":         {base, mustNew(t, withState(members(ids(4)...), "n4", Leaving), 3, testQ), false},
		"other vnodes":        {base, mustNew(t, withVNodes(members(ids(4)...), 1, 65), 3, testQ), false},
		"extra removed":       {base, mustNew(t, append(members(ids(4)...), Member{ID: "x", State: Removed}), 3, testQ), false},
		"nil and ring":        {nil, base, false},
		"ring and nil":        {base, nil, false},
		"nil and nil":         {nil, nil, true},
		"n capped vs not yet": {mustNew(t, members("a"), 3, 8), mustNew(t, members("a"), 1, 8), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.a.Equal(tc.b); got != tc.want {
				t.Fatalf("Equal = %v, want %v", got, tc.want)
			}
		})
	}
}

// mixed returns a ring in motion: 6 normal, 2 joining, 1 leaving, 1 left,
// 1 removed, with varied vnodes.
func mixed() []Member {
	ms := members("n1", "n2", "n3", "n4", "n5", "n6", "j1", "j2", "l1", "gone", "rm")
	ms[2].VNodes = 128
	ms[7].VNodes = 32
	ms = withState(ms, "j1", Joining)
	ms = withState(ms, "j2", Joining)
	ms = withState(ms, "l1", Leaving)
	ms = withState(ms, "gone", Left)
	return withState(ms, "rm", Removed)
}

// withVNodes sets the vnodes of ms[i] to v[i], or of every member to v[0]
// when only one is given.
func withVNodes(ms []Member, v ...int) []Member {
	out := slices.Clone(ms)
	for i := range out {
		if len(v) == 1 {
			out[i].VNodes = v[0]
		} else if i < len(v) {
			out[i].VNodes = v[i]
		}
	}
	return out
}

func allState(ms []Member, s State) []Member {
	out := slices.Clone(ms)
	for i := range out {
		out[i].State = s
	}
	return out
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		n += b2i(v)
	}
	return n
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Tokens are xxhash64(id + "/" + i): every node derives the same ones from
// the id alone, and raising vnodes keeps the existing tokens.
func TestAppendTokens_derivedFromIDAlone(t *testing.T) {
	got := appendTokens(nil, "n1", 7, 3)
	for i, want := range []uint64{xxhash.Sum64String("n1/0"), xxhash.Sum64String("n1/1"), xxhash.Sum64String("n1/2")} {
		if got[i].pos != want || got[i].member != 7 {
			t.Fatalf("token %d = %+v, want pos %x of member 7", i, got[i], want)
		}
	}
	more := appendTokens(nil, "n1", 7, 5)
	if !slices.Equal(more[:3], got) {
		t.Fatal("raising vnodes changed the existing tokens")
	}
}

// A token exactly at a partition's start is that partition's first replica,
// and the walk wraps past the last token to the first.
func TestBuildView_startBoundaryAndWrap(t *testing.T) {
	ms := members("a", "b", "c")
	const quarter = uint64(1) << 62
	toks := []token{{0, 0}, {quarter, 1}, {quarter + 1, 2}, {3*quarter + 1, 2}}
	v := buildView(ms, toks, func(i int) bool { return ms[i].State.current() }, 2, 4)
	want := [][]string{{"a", "b"}, {"b", "c"}, {"c", "a"}, {"c", "a"}}
	for p, w := range want {
		if !slices.Equal(v.replicas[p], w) {
			t.Errorf("partition %d: replicas %v, want %v", p, v.replicas[p], w)
		}
	}
}
