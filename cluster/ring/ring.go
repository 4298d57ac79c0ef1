package ring

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Limits on New's arguments. They keep a corrupt member table from asking
// for a ring that would not fit in memory.
const (
	// MaxQ is the largest partition count New accepts.
	MaxQ = 1 << 20
	// MaxVNodes is the largest token count a member may have.
	MaxVNodes = 1 << 12
)

// Sentinel errors returned (wrapped) by New and ParseState.
var (
	// ErrInvalidN: the replication factor is below 1.
	ErrInvalidN = errors.New("ring: invalid replication factor")
	// ErrInvalidQ: the partition count is not a power of two in [1, MaxQ].
	ErrInvalidQ = errors.New("ring: invalid partition count")
	// ErrInvalidMember: a member has an empty id, an unknown state or a
	// vnodes count out of range.
	ErrInvalidMember = errors.New("ring: invalid member")
	// ErrDuplicateMember: two members share an id.
	ErrDuplicateMember = errors.New("ring: duplicate member")
)

// Member is one entry of the member table, as far as the ring cares.
type Member struct {
	// ID is the node id. Not empty. It decides the member's tokens unless
	// TokensOf is set.
	ID string
	// TokensOf is the id whose tokens the member owns: set on a member that
	// replaced another (it then replicates exactly the partitions the
	// replaced member did, given the same VNodes). Empty means ID. Of
	// several counted members with the same token seed (TokensOf, or ID
	// when empty), only one counts: the one whose ID is the seed, else the
	// one with the smallest ID; the others own nothing (see Shadowed).
	TokensOf string
	// VNodes is the member's token count, its weight: a member with twice
	// the vnodes replicates about twice the partitions. 1 to MaxVNodes; 0 is
	// accepted only for Left and Removed members, which own no tokens.
	VNodes int
	// State is the member's ring state; the zero value is refused.
	State State
}

// Ring is an immutable snapshot of the partition ring for one member table,
// replication factor and partition count. All methods are safe for
// concurrent use; slices they document as shared must not be modified.
type Ring struct {
	n, q    int
	members []Member // sorted by ID

	cur, fut view
	pending  [][]string // per partition: in fut but not cur, future order
	write    [][]string // per partition: cur then pending
	shadowed []string   // counted members whose token seed another holds, by id
}

// view is one way of counting members: the replicas of every partition.
type view struct {
	n        int              // effective replication factor
	replicas [][]string       // per partition, preference order
	parts    map[string][]int // member id -> partitions it replicates, ascending
}

// New builds the ring of members for replication factor n and q partitions.
// The order of members does not matter. It returns an error wrapping
// ErrInvalidN, ErrInvalidQ, ErrInvalidMember or ErrDuplicateMember when an
// argument is unusable. New does not keep members.
func New(members []Member, n, q int) (*Ring, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: n = %d, must be at least 1", ErrInvalidN, n)
	}
	if q < 1 || q > MaxQ || q&(q-1) != 0 {
		return nil, fmt.Errorf("%w: q = %d, must be a power of two in [1, %d]", ErrInvalidQ, q, MaxQ)
	}
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	for i, m := range ms {
		if err := validate(m); err != nil {
			return nil, err
		}
		if i > 0 && ms[i-1].ID == m.ID {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateMember, m.ID)
		}
	}
	shadowed := shadowedMembers(ms)
	total := 0
	for i, m := range ms {
		if !shadowed[i] && (m.State.current() || m.State.future()) {
			total += m.VNodes
		}
	}

	// Every token of a member that counts in either view, in ring order;
	// equal positions are ordered by member id, so the order depends on the
	// member table alone.
	toks := make([]token, 0, total)
	for i, m := range ms {
		if !shadowed[i] && (m.State.current() || m.State.future()) {
			toks = appendTokens(toks, m.tokenSeed(), int32(i), m.VNodes)
		}
	}
	slices.SortFunc(toks, func(a, b token) int {
		if c := cmp.Compare(a.pos, b.pos); c != 0 {
			return c
		}
		return cmp.Compare(a.member, b.member)
	})

	r := &Ring{n: n, q: q, members: ms}
	r.cur = buildView(ms, toks, func(i int) bool { return !shadowed[i] && ms[i].State.current() }, n, q)
	r.fut = buildView(ms, toks, func(i int) bool { return !shadowed[i] && ms[i].State.future() }, n, q)
	r.buildPending()
	for i, sh := range shadowed {
		if sh {
			r.shadowed = append(r.shadowed, ms[i].ID)
		}
	}
	return r, nil
}

// tokenSeed is the id m's tokens derive from: TokensOf, or ID.
func (m Member) tokenSeed() string {
	if m.TokensOf != "" {
		return m.TokensOf
	}
	return m.ID
}

// shadowedMembers marks, for ms sorted by id, the members that count in a
// view but whose token seed another counted member claims first: the
// member whose id is the seed, else the one with the smallest id. Two
// members with the same tokens would split every token between them by
// id, so only one keeps them.
func shadowedMembers(ms []Member) []bool {
	shadowed := make([]bool, len(ms))
	owner := map[string]int{} // seed -> index of the counted member keeping it
	for i, m := range ms {
		if !m.State.current() && !m.State.future() {
			continue
		}
		seed := m.tokenSeed()
		j, ok := owner[seed]
		switch {
		case !ok:
			owner[seed] = i
		case m.ID == seed: // the original beats a replacer of smaller id
			shadowed[j] = true
			owner[seed] = i
		default:
			shadowed[i] = true
		}
	}
	return shadowed
}

func validate(m Member) error {
	switch {
	case m.ID == "":
		return fmt.Errorf("%w: empty id", ErrInvalidMember)
	case !m.State.valid():
		return fmt.Errorf("%w: %q has state %v", ErrInvalidMember, m.ID, m.State)
	case m.VNodes < 0 || m.VNodes > MaxVNodes:
		return fmt.Errorf("%w: %q has %d vnodes, must be in [1, %d]", ErrInvalidMember, m.ID, m.VNodes, MaxVNodes)
	case m.VNodes == 0 && (m.State.current() || m.State.future()):
		return fmt.Errorf("%w: %q is %v with 0 vnodes", ErrInvalidMember, m.ID, m.State)
	}
	return nil
}

// buildView computes the replicas of every partition counting the members
// (by index in ms) for which counts holds. toks holds every token in ring
// order.
func buildView(ms []Member, all []token, counts func(member int) bool, n, q int) view {
	toks := make([]token, 0, len(all))
	counted := 0
	for i := range ms {
		if counts(i) {
			counted++
		}
	}
	for _, t := range all {
		if counts(int(t.member)) {
			toks = append(toks, t)
		}
	}
	v := view{n: min(n, counted), replicas: make([][]string, q), parts: make(map[string][]int)}
	if v.n == 0 {
		return v
	}

	shift := uint(64 - bits.TrailingZeros(uint(q))) // q == 1: shift 64, every start is 0
	backing := make([]string, q*v.n)
	perMember := make([][]int, len(ms))
	seen := make([]int, len(ms)) // seen[m] == p+1: m is already a replica of p
	i := 0
	for p := range q {
		start := uint64(p) << shift
		for i < len(toks) && toks[i].pos < start {
			i++
		}
		reps := backing[p*v.n : (p+1)*v.n : (p+1)*v.n]
		// Walk clockwise from the first token >= start. It ends: every
		// counted member owns at least one token and v.n <= counted.
		for j, got := i, 0; got < v.n; j++ {
			if j == len(toks) {
				j = 0
			}
			m := toks[j].member
			if seen[m] == p+1 {
				continue
			}
			seen[m] = p + 1
			reps[got] = ms[m].ID
			perMember[m] = append(perMember[m], p)
			got++
		}
		v.replicas[p] = reps
	}
	for m, parts := range perMember {
		if parts != nil {
			v.parts[ms[m].ID] = parts
		}
	}
	return v
}

// buildPending derives the pending replicas and write targets of every
// partition from the two views.
func (r *Ring) buildPending() {
	r.pending = make([][]string, r.q)
	r.write = make([][]string, r.q)
	for p := range r.q {
		cur, fut := r.cur.replicas[p], r.fut.replicas[p]
		var pend []string
		for _, id := range fut {
			if !slices.Contains(cur, id) {
				pend = append(pend, id)
			}
		}
		r.pending[p] = slices.Clip(pend)
		if len(pend) == 0 {
			r.write[p] = cur
			continue
		}
		w := make([]string, 0, len(cur)+len(pend))
		r.write[p] = append(append(w, cur...), pend...)
	}
}

// N returns the effective replication factor: the configured n capped at
// the number of members counted by the current view (Normal and Leaving).
// It is 0 when no member counts.
func (r *Ring) N() int { return r.cur.n }

// Q returns the partition count.
func (r *Ring) Q() int { return r.q }

// Replicas returns the current replicas of partition p in preference order:
// N distinct Normal or Leaving members. They serve reads and their
// acknowledgements count toward R and W. The slice is shared: the caller
// must not modify it. It is nil when p is out of range or N is 0.
func (r *Ring) Replicas(p int) []string { return r.at(r.cur.replicas, p) }

// Future returns the replicas partition p will have once every join and
// leave under way completes (counting Normal and Joining members), in
// preference order. The slice is shared: the caller must not modify it.
func (r *Ring) Future(p int) []string { return r.at(r.fut.replicas, p) }

// Pending returns the members in Future(p) but not in Replicas(p), in
// future preference order: they must receive the partition's writes while
// it moves to them (each adds one to a write's W) and serve no reads. The slice
// is shared: the caller must not modify it; it is nil when nothing moves.
func (r *Ring) Pending(p int) []string { return r.at(r.pending, p) }

// WriteTargets returns every member a write to partition p goes to:
// Replicas(p) in preference order, then Pending(p). The slice is shared:
// the caller must not modify it.
func (r *Ring) WriteTargets(p int) []string { return r.at(r.write, p) }

func (r *Ring) at(lists [][]string, p int) []string {
	if p < 0 || p >= r.q {
		return nil
	}
	return lists[p]
}

// IsReplica reports whether id is a current replica of partition p.
func (r *Ring) IsReplica(p int, id string) bool {
	return slices.Contains(r.Replicas(p), id)
}

// PartitionsOf returns, in ascending order, the partitions id currently
// replicates. The caller owns the returned slice.
func (r *Ring) PartitionsOf(id string) []int { return slices.Clone(r.cur.parts[id]) }

// FuturePartitionsOf returns, in ascending order, the partitions id will
// replicate once every join and leave under way completes. The caller owns
// the returned slice.
func (r *Ring) FuturePartitionsOf(id string) []int { return slices.Clone(r.fut.parts[id]) }

// Ownership returns id's share of the ring: the number of partitions id
// currently replicates divided by Q*N. The ownerships of all members sum to
// 1 (or are all 0 when N is 0); a member that is not a current replica owns 0.
func (r *Ring) Ownership(id string) float64 {
	if r.cur.n == 0 {
		return 0
	}
	return float64(len(r.cur.parts[id])) / float64(r.q*r.cur.n)
}

// Shadowed returns, sorted, the ids of the members that would count in a
// view but own nothing because another counted member claims the same
// token seed (see Member.TokensOf). The caller owns the returned slice.
func (r *Ring) Shadowed() []string { return slices.Clone(r.shadowed) }

// Members returns the member table the ring was built from, sorted by id.
// The caller owns the returned slice.
func (r *Ring) Members() []Member { return slices.Clone(r.members) }

// Equal reports whether r and other were built from the same members (in
// any order), replication factor and partition count, and so assign every
// partition alike. Two nil rings are equal; a nil and a non-nil one are not.
func (r *Ring) Equal(other *Ring) bool {
	if r == nil || other == nil {
		return r == other
	}
	return r == other || (r.n == other.n && r.q == other.q && slices.Equal(r.members, other.members))
}
