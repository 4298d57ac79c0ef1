package conflict

import (
	"bytes"
	"slices"
)

// Stamp is one add of a set member: its dot and timestamp.
type Stamp struct {
	Dot Dot
	TS  Timestamp
}

// Member is a set member with the adds that keep it in the set.
type Member struct {
	Value []byte
	// Stamps is sorted by dot and never empty.
	Stamps []Stamp
}

// ORSet is an add-wins observed-remove set without tombstones (ORSWOT,
// Bieniusa et al.): members sorted bytewise, each with the dots of the adds
// that keep it, and the causal context of every add the set has seen. A
// member stays while one of its adds is unseen by a remove.
type ORSet struct {
	Members []Member
	Ctx     Context
}

// Values returns the members' values in bytewise order.
func (s *ORSet) Values() [][]byte {
	out := make([][]byte, len(s.Members))
	for i := range s.Members {
		out[i] = s.Members[i].Value
	}
	return out
}

// latest returns the add with the largest (timestamp, actor), if any.
func (s *ORSet) latest() (Sibling, bool) {
	var best Sibling
	found := false
	for _, m := range s.Members {
		for _, st := range m.Stamps {
			c := Sibling{Dot: st.Dot, TS: st.TS}
			if !found || c.later(&best) {
				best, found = c, true
			}
		}
	}
	return best, found
}

func (s *ORSet) find(v []byte) (int, bool) {
	return slices.BinarySearchFunc(s.Members, v, func(m Member, v []byte) int { return bytes.Compare(m.Value, v) })
}

// add records the add of every value under one dot. The adds the set holds
// for those values were seen by this one (they are local), so they go.
func (s *ORSet) add(st Stamp, values [][]byte) {
	for _, v := range values {
		i, ok := s.find(v)
		if ok {
			s.Members[i].Stamps = []Stamp{st}
			continue
		}
		s.Members = slices.Insert(s.Members, i, Member{Value: bytes.Clone(v), Stamps: []Stamp{st}})
	}
	s.Ctx = s.Ctx.withDot(st.Dot)
}

// remove drops, for every value, the adds ctx has seen; a value with no add
// left leaves the set. The context is not extended: it is the caller's read
// of this very set (see Object.SetRemove).
func (s *ORSet) remove(values [][]byte, ctx Context) {
	for _, v := range values {
		i, ok := s.find(v)
		if !ok {
			continue
		}
		m := &s.Members[i]
		m.Stamps = slices.DeleteFunc(m.Stamps, func(st Stamp) bool { return ctx.Contains(st.Dot) })
		if len(m.Stamps) == 0 {
			s.Members = slices.Delete(s.Members, i, i+1)
		}
	}
}

// mergeStamps joins the adds of one member held by two sets.
func mergeStamps(a, b []Stamp, actx, bctx Context) []Stamp {
	var out []Stamp
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c int
		switch {
		case i == len(a):
			c = 1
		case j == len(b):
			c = -1
		default:
			c = a[i].Dot.Compare(b[j].Dot)
		}
		switch {
		case c < 0:
			if !bctx.Contains(a[i].Dot) {
				out = append(out, a[i])
			}
			i++
		case c > 0:
			if !actx.Contains(b[j].Dot) {
				out = append(out, b[j])
			}
			j++
		default:
			st := a[i]
			if st.TS.Less(b[j].TS) {
				st = b[j]
			}
			out = append(out, st)
			i++
			j++
		}
	}
	return out
}

func mergeSets(a, b *ORSet) ORSet {
	out := ORSet{Ctx: a.Ctx.Merge(b.Ctx)}
	i, j := 0, 0
	for i < len(a.Members) || j < len(b.Members) {
		var c int
		switch {
		case i == len(a.Members):
			c = 1
		case j == len(b.Members):
			c = -1
		default:
			c = bytes.Compare(a.Members[i].Value, b.Members[j].Value)
		}
		var m Member
		switch {
		case c < 0:
			m = Member{Value: a.Members[i].Value, Stamps: mergeStamps(a.Members[i].Stamps, nil, a.Ctx, b.Ctx)}
			i++
		case c > 0:
			m = Member{Value: b.Members[j].Value, Stamps: mergeStamps(nil, b.Members[j].Stamps, a.Ctx, b.Ctx)}
			j++
		default:
			m = Member{Value: a.Members[i].Value, Stamps: mergeStamps(a.Members[i].Stamps, b.Members[j].Stamps, a.Ctx, b.Ctx)}
			i++
			j++
		}
		if len(m.Stamps) > 0 {
			out.Members = append(out.Members, m)
		}
	}
	return out
}

func (s *ORSet) clone() ORSet {
	out := ORSet{Ctx: s.Ctx.Clone()}
	if len(s.Members) > 0 {
		out.Members = make([]Member, len(s.Members))
		for i, m := range s.Members {
			out.Members[i] = Member{Value: bytes.Clone(m.Value), Stamps: slices.Clone(m.Stamps)}
		}
	}
	return out
}
