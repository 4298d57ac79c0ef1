package conflict_test

import (
	"math/rand/v2"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
)

func TestContext_Contains(t *testing.T) {
	c := conflict.Context{
		VV:    conflict.VersionVector{dt(actA, 3), dt(actC, 1)},
		Cloud: []conflict.Dot{dt(actA, 7), dt(actB, 2)},
	}
	tests := map[string]struct {
		d    conflict.Dot
		want bool
	}{
		"inVector":        {d: dt(actA, 1), want: true},
		"vectorTop":       {d: dt(actA, 3), want: true},
		"aboveVector":     {d: dt(actA, 4), want: false},
		"inCloud":         {d: dt(actA, 7), want: true},
		"cloudOnlyActor":  {d: dt(actB, 2), want: true},
		"belowCloudOnly":  {d: dt(actB, 1), want: false},
		"unknownActor":    {d: dt(0xd, 1), want: false},
		"otherActorInVec": {d: dt(actC, 1), want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := c.Contains(tc.d); got != tc.want {
				t.Fatalf("Contains(%v) = %v, want %v", tc.d, got, tc.want)
			}
		})
	}
	if got := c.VV.Get(actB); got != 0 {
		t.Fatalf("VV.Get(b) = %d", got)
	}
	if !(conflict.Context{}).IsEmpty() || c.IsEmpty() || !(conflict.Context{Cloud: []conflict.Dot{dt(actA, 1)}}).Contains(dt(actA, 1)) {
		t.Fatal("IsEmpty/Contains of edge contexts")
	}
}

func TestContext_Merge(t *testing.T) {
	tests := map[string]struct {
		a, b, want conflict.Context
	}{
		"empty": {},
		"pointwiseMax": {
			a:    vv(dt(actA, 3), dt(actB, 1)),
			b:    vv(dt(actA, 2), dt(actC, 4)),
			want: vv(dt(actA, 3), dt(actB, 1), dt(actC, 4)),
		},
		"cloudUnion": {
			a:    conflict.Context{Cloud: []conflict.Dot{dt(actA, 5)}},
			b:    conflict.Context{Cloud: []conflict.Dot{dt(actA, 5), dt(actB, 9)}},
			want: conflict.Context{Cloud: []conflict.Dot{dt(actA, 5), dt(actB, 9)}},
		},
		"cloudCoveredByOtherVector": {
			a:    conflict.Context{VV: conflict.VersionVector{dt(actA, 1)}, Cloud: []conflict.Dot{dt(actA, 5), dt(actB, 3)}},
			b:    vv(dt(actA, 6)),
			want: conflict.Context{VV: conflict.VersionVector{dt(actA, 6)}, Cloud: []conflict.Dot{dt(actB, 3)}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, got := range []conflict.Context{tc.a.Merge(tc.b), tc.b.Merge(tc.a)} {
				if !got.Equal(tc.want) {
					t.Fatalf("Merge = %s, want %s", dumpCtx(got), dumpCtx(tc.want))
				}
			}
		})
	}
}

// Merge of contexts is the union of the dots they contain, and a join.
func TestContext_Merge_randomIsUnion(t *testing.T) {
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		for range 50 {
			a, b, c := randomContext(rng), randomContext(rng), randomContext(rng)
			ab := a.Merge(b)
			if !ab.Equal(b.Merge(a)) || !ab.Merge(c).Equal(a.Merge(b.Merge(c))) || !a.Merge(a).Equal(a) {
				t.Fatalf("not a join: %s, %s, %s", dumpCtx(a), dumpCtx(b), dumpCtx(c))
			}
			for act := conflict.ActorID(1); act <= 5; act++ {
				for n := uint64(1); n <= 14; n++ {
					d := dt(act, n)
					if ab.Contains(d) != (a.Contains(d) || b.Contains(d)) {
						t.Fatalf("%s ⊔ %s contains %v: %v", dumpCtx(a), dumpCtx(b), d, ab.Contains(d))
					}
				}
			}
			before := a.Clone()
			_ = a.Merge(c)
			if !a.Equal(before) {
				t.Fatalf("Merge changed its receiver")
			}
		}
	})
}

func TestDot_Compare(t *testing.T) {
	tests := map[string]struct {
		a, b conflict.Dot
		want int
	}{
		"actorFirst": {a: dt(actA, 9), b: dt(actB, 1), want: -1},
		"counter":    {a: dt(actA, 2), b: dt(actA, 1), want: 1},
		"equal":      {a: dt(actA, 2), b: dt(actA, 2), want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.a.Compare(tc.b); got != tc.want {
				t.Fatalf("Compare = %d, want %d", got, tc.want)
			}
		})
	}
	if s := dt(actA, 3).String(); s != "000000000000000a:3" {
		t.Fatalf("String() = %q", s)
	}
}

// Beyond histories: on arbitrary canonical objects, Siblings merge is a
// join, LWW merge commutes, and every result is canonical.
func TestMerge_arbitraryObjects(t *testing.T) {
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		objs := make([]*conflict.Object, 12)
		for i := range objs {
			objs[i] = randomObject(rng)
		}
		checkJoin(t, conflict.Siblings, objs, rng, 40)
		for range 40 {
			x, y := objs[rng.IntN(len(objs))], objs[rng.IntN(len(objs))]
			for _, p := range policies {
				xy := conflict.Merge(p, x, y)
				requireSameBytes(t, p.String()+": commutative", xy, conflict.Merge(p, y, x))
				if _, err := conflict.DecodeObject(xy.Marshal()); err != nil {
					t.Fatalf("%v: merge result not canonical: %v\n  %s", p, err, dump(xy))
				}
				if p == conflict.LWW && len(xy.Reg.Siblings) > 1 {
					t.Fatalf("LWW merge kept %d siblings", len(xy.Reg.Siblings))
				}
			}
		}
	})
}
