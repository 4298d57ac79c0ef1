package conflict

import (
	"bytes"
	"cmp"
	"slices"
)

// Policy is the cluster-wide rule for concurrent register writes.
type Policy uint8

// The conflict policies of DESIGN.md (--conflict).
const (
	// LWW keeps, of concurrent siblings, the one with the larger
	// (timestamp, actor), on every replica alike.
	LWW Policy = 1
	// Siblings keeps every concurrent sibling until a write that saw them
	// resolves them (Riak's allow_mult).
	Siblings Policy = 2
)

// String returns the flag spelling: "lww" or "siblings".
func (p Policy) String() string {
	switch p {
	case LWW:
		return "lww"
	case Siblings:
		return "siblings"
	}
	return "unknown"
}

// ParsePolicy parses "lww" or "siblings".
func ParsePolicy(s string) (Policy, bool) {
	switch s {
	case "lww":
		return LWW, true
	case "siblings":
		return Siblings, true
	}
	return 0, false
}

// Sibling is one version of a register: the dot of the write that made it,
// its timestamp, and its value or a tombstone.
type Sibling struct {
	Dot       Dot
	TS        Timestamp
	Tombstone bool
	// Value is nil for a tombstone; an empty live value is non-nil or nil
	// alike.
	Value []byte
}

// later reports whether s is "later" than o in the sense of DESIGN.md: a
// greater (timestamp, actor), with the counter as the last tie-break so the
// order is total over distinct dots.
func (s *Sibling) later(o *Sibling) bool {
	if c := s.TS.Compare(o.TS); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(s.Dot.Actor, o.Dot.Actor); c != 0 {
		return c > 0
	}
	return s.Dot.Counter > o.Dot.Counter
}

// pick deterministically chooses between two siblings that claim the same
// dot. Real replicas never disagree on a dot's content; the choice exists so
// that merge stays commutative over any input.
func pick(a, b *Sibling) *Sibling {
	if c := a.TS.Compare(b.TS); c != 0 {
		if c > 0 {
			return a
		}
		return b
	}
	if a.Tombstone != b.Tombstone {
		if a.Tombstone {
			return a
		}
		return b
	}
	if bytes.Compare(a.Value, b.Value) >= 0 {
		return a
	}
	return b
}

// Register is a dotted version vector set: the siblings not yet superseded,
// sorted by dot, and the causal context of everything the register has seen,
// which covers every sibling's dot.
type Register struct {
	Siblings []Sibling
	Ctx      Context
}

// Live returns the siblings that are not tombstones, in dot order.
func (r *Register) Live() []Sibling {
	var out []Sibling
	for _, s := range r.Siblings {
		if !s.Tombstone {
			out = append(out, s)
		}
	}
	return out
}

// latestLive returns the live sibling with the largest (timestamp, actor),
// or nil.
func (r *Register) latestLive() *Sibling {
	var best *Sibling
	for i := range r.Siblings {
		s := &r.Siblings[i]
		if !s.Tombstone && (best == nil || s.later(best)) {
			best = s
		}
	}
	return best
}

// write replaces the siblings ctx has seen with s and records ctx and s.Dot
// in the register's context. s.Dot was minted by the caller on top of r.
func (r *Register) write(p Policy, s Sibling, ctx Context) {
	kept := r.Siblings[:0:0]
	for _, old := range r.Siblings {
		if !ctx.Contains(old.Dot) {
			kept = append(kept, old)
		}
	}
	kept = append(kept, s)
	slices.SortFunc(kept, func(a, b Sibling) int { return a.Dot.Compare(b.Dot) })
	r.Siblings = kept
	r.Ctx = r.Ctx.Merge(ctx).withDot(s.Dot)
	r.resolve(p)
}

// resolve applies the policy: under LWW only the latest sibling remains.
// The others stay covered by the context, so they are superseded everywhere.
func (r *Register) resolve(p Policy) {
	if p != LWW || len(r.Siblings) <= 1 {
		return
	}
	best := 0
	for i := 1; i < len(r.Siblings); i++ {
		if r.Siblings[i].later(&r.Siblings[best]) {
			best = i
		}
	}
	r.Siblings = []Sibling{r.Siblings[best]}
}

// mergeRegisters joins a and b: a sibling survives if both hold it, or if
// one holds it and the other has not seen its dot.
func mergeRegisters(p Policy, a, b *Register) Register {
	out := Register{Ctx: a.Ctx.Merge(b.Ctx)}
	if n := len(a.Siblings) + len(b.Siblings); n > 0 {
		out.Siblings = make([]Sibling, 0, n)
	}
	i, j := 0, 0
	for i < len(a.Siblings) || j < len(b.Siblings) {
		var c int
		switch {
		case i == len(a.Siblings):
			c = 1
		case j == len(b.Siblings):
			c = -1
		default:
			c = a.Siblings[i].Dot.Compare(b.Siblings[j].Dot)
		}
		switch {
		case c < 0:
			if s := &a.Siblings[i]; !b.Ctx.Contains(s.Dot) {
				out.Siblings = append(out.Siblings, *s)
			}
			i++
		case c > 0:
			if s := &b.Siblings[j]; !a.Ctx.Contains(s.Dot) {
				out.Siblings = append(out.Siblings, *s)
			}
			j++
		default:
			out.Siblings = append(out.Siblings, *pick(&a.Siblings[i], &b.Siblings[j]))
			i++
			j++
		}
	}
	out.resolve(p)
	return out
}

func (r *Register) clone() Register {
	out := Register{Ctx: r.Ctx.Clone()}
	if len(r.Siblings) > 0 {
		out.Siblings = make([]Sibling, len(r.Siblings))
		for i, s := range r.Siblings {
			s.Value = bytes.Clone(s.Value)
			out.Siblings[i] = s
		}
	}
	return out
}
