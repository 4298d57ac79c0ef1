package conflict

import (
	"slices"
)

// VersionVector maps actors to the highest counter seen, as a slice sorted
// by actor with no duplicate actor and no zero counter. The Counter of an
// entry (a, c) means: every dot of a up to c (for this key) has been seen.
type VersionVector []Dot

// Get returns the counter of actor a, 0 if absent.
func (v VersionVector) Get(a ActorID) uint64 {
	i, ok := slices.BinarySearchFunc(v, a, func(e Dot, a ActorID) int {
		switch {
		case e.Actor < a:
			return -1
		case e.Actor > a:
			return 1
		}
		return 0
	})
	if !ok {
		return 0
	}
	return v[i].Counter
}

// Contains reports whether d is covered by the vector.
func (v VersionVector) Contains(d Dot) bool { return d.Counter <= v.Get(d.Actor) }

// mergeVV returns the pointwise maximum of a and b as a new vector.
func mergeVV(a, b VersionVector) VersionVector {
	if len(b) == 0 {
		return slices.Clone(a)
	}
	if len(a) == 0 {
		return slices.Clone(b)
	}
	out := make(VersionVector, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Actor < b[j].Actor:
			out = append(out, a[i])
			i++
		case a[i].Actor > b[j].Actor:
			out = append(out, b[j])
			j++
		default:
			out = append(out, Dot{a[i].Actor, max(a[i].Counter, b[j].Counter)})
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Context is a causal context: the set of dots a replica or a reader has
// seen, as a version vector and the dots outside it (the cloud). Our own
// operations keep the cloud empty (see the package doc); it exists so that a
// context from any source is represented exactly. The zero Context is empty.
type Context struct {
	// VV covers, per actor, every dot up to its counter.
	VV VersionVector
	// Cloud holds seen dots not covered by VV, sorted, without duplicates.
	Cloud []Dot
}

// Contains reports whether the context has seen d.
func (c Context) Contains(d Dot) bool {
	if c.VV.Contains(d) {
		return true
	}
	_, ok := slices.BinarySearchFunc(c.Cloud, d, Dot.Compare)
	return ok
}

// IsEmpty reports whether the context has seen nothing.
func (c Context) IsEmpty() bool { return len(c.VV) == 0 && len(c.Cloud) == 0 }

// Merge returns the union of c and o as a new context; neither is changed.
func (c Context) Merge(o Context) Context {
	out := Context{VV: mergeVV(c.VV, o.VV)}
	if len(c.Cloud)+len(o.Cloud) == 0 {
		return out
	}
	cloud := make([]Dot, 0, len(c.Cloud)+len(o.Cloud))
	cloud = append(cloud, c.Cloud...)
	cloud = append(cloud, o.Cloud...)
	slices.SortFunc(cloud, Dot.Compare)
	cloud = slices.Compact(cloud)
	for _, d := range cloud {
		if !out.VV.Contains(d) {
			out.Cloud = append(out.Cloud, d)
		}
	}
	return out
}

// withDot returns c with d recorded in the version vector. The caller is the
// actor that minted d on top of its own copy, so every earlier dot of the
// actor for this key is seen (package doc).
func (c Context) withDot(d Dot) Context {
	out := Context{VV: mergeVV(c.VV, VersionVector{d})}
	for _, x := range c.Cloud {
		if !out.VV.Contains(x) {
			out.Cloud = append(out.Cloud, x)
		}
	}
	return out
}

// Clone returns a deep copy.
func (c Context) Clone() Context {
	return Context{VV: slices.Clone(c.VV), Cloud: slices.Clone(c.Cloud)}
}

// Equal reports whether two contexts hold the same dots in the same form.
func (c Context) Equal(o Context) bool {
	return slices.Equal(c.VV, o.VV) && slices.Equal(c.Cloud, o.Cloud)
}
