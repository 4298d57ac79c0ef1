package conflict_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/quorumkv/quorumkv/conflict"
)

// randomObject returns an arbitrary object in canonical form, beyond what
// histories make: dot clouds, negative and extreme timestamps, empty values,
// several adds per member. Actors come from a small range so that objects
// drawn from the same rng overlap.
func randomObject(rng *rand.Rand) *conflict.Object {
	o := &conflict.Object{}
	o.Reg.Ctx = randomContext(rng)
	for _, d := range pickDots(rng, o.Reg.Ctx, 4) {
		s := conflict.Sibling{Dot: d, TS: randomTS(rng)}
		if rng.IntN(4) == 0 {
			s.Tombstone = true
		} else {
			s.Value = randomBytes(rng, 6)
		}
		o.Reg.Siblings = append(o.Reg.Siblings, s)
	}
	o.Set.Ctx = randomContext(rng)
	for _, v := range randomMembers(rng) {
		dots := pickDots(rng, o.Set.Ctx, 3)
		if len(dots) == 0 {
			continue
		}
		m := conflict.Member{Value: v}
		for _, d := range dots {
			m.Stamps = append(m.Stamps, conflict.Stamp{Dot: d, TS: randomTS(rng)})
		}
		o.Set.Members = append(o.Set.Members, m)
	}
	return o
}

func randomActor(rng *rand.Rand) conflict.ActorID {
	if rng.IntN(8) == 0 {
		return conflict.ActorID(rng.Uint64() | 1)
	}
	return conflict.ActorID(1 + rng.IntN(4))
}

func randomContext(rng *rand.Rand) conflict.Context {
	var c conflict.Context
	for range rng.IntN(4) {
		a := randomActor(rng)
		if c.VV.Get(a) == 0 {
			c.VV = append(c.VV, conflict.Dot{Actor: a, Counter: 1 + uint64(rng.IntN(6))})
			slices.SortFunc(c.VV, conflict.Dot.Compare)
		}
	}
	for range rng.IntN(3) {
		d := conflict.Dot{Actor: randomActor(rng), Counter: 1 + uint64(rng.IntN(12))}
		if rng.IntN(10) == 0 {
			d.Counter = math.MaxUint64 - uint64(rng.IntN(2))
		}
		if !c.Contains(d) {
			c.Cloud = append(c.Cloud, d)
			slices.SortFunc(c.Cloud, conflict.Dot.Compare)
		}
	}
	return c
}

// pickDots returns up to n distinct dots of c, sorted.
func pickDots(rng *rand.Rand, c conflict.Context, n int) []conflict.Dot {
	var all []conflict.Dot
	for _, e := range c.VV {
		for k := uint64(1); k <= e.Counter; k++ {
			all = append(all, conflict.Dot{Actor: e.Actor, Counter: k})
		}
	}
	all = append(all, c.Cloud...)
	var out []conflict.Dot
	for range rng.IntN(n + 1) {
		if len(all) == 0 {
			break
		}
		d := all[rng.IntN(len(all))]
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, conflict.Dot.Compare)
	return out
}

func randomTS(rng *rand.Rand) conflict.Timestamp {
	switch rng.IntN(8) {
	case 0:
		return conflict.Timestamp{Wall: -int64(rng.Uint64() >> 1), Logical: rng.Uint32()}
	case 1:
		return conflict.Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32}
	}
	return conflict.Timestamp{Wall: int64(rng.IntN(20)), Logical: uint32(rng.IntN(3))}
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, rng.IntN(n+1))
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

func randomMembers(rng *rand.Rand) [][]byte {
	var out [][]byte
	for range rng.IntN(4) {
		v := []byte{"xyz"[rng.IntN(3)]}
		if rng.IntN(5) == 0 {
			v = randomBytes(rng, 3)
		}
		if !slices.ContainsFunc(out, func(x []byte) bool { return bytes.Equal(x, v) }) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}
