package conflict_test

import (
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
)

// Property 6: add-wins observed-remove set.
func TestORSet_SetRemove(t *testing.T) {
	tests := map[string]struct {
		run  func() *conflict.Object
		want []string // Set.Values()
	}{
		"removeDeletesSeenAdd": {
			run: func() *conflict.Object {
				a := &conflict.Object{}
				a.SetAdd(dt(actA, 1), ts(10), values("x", "y"))
				b := conflict.Merge(conflict.Siblings, &conflict.Object{}, a)
				b.SetRemove(values("x"), b.Set.Ctx.Clone())
				return conflict.Merge(conflict.Siblings, a, b) // a still holds x
			},
			want: []string{"y"},
		},
		"concurrentAddSurvivesRemove": {
			// A re-adds x while B removes the add of x it saw.
			run: func() *conflict.Object {
				a := &conflict.Object{}
				a.SetAdd(dt(actA, 1), ts(10), values("x"))
				b := conflict.Merge(conflict.Siblings, &conflict.Object{}, a)
				b.SetRemove(values("x"), b.Set.Ctx.Clone())
				a.SetAdd(dt(actA, 2), ts(5), values("x")) // an older wall time changes nothing
				return conflict.Merge(conflict.Siblings, b, a)
			},
			want: []string{"x"},
		},
		"removeKeepsUnseenAddAtAnotherReplica": {
			run: func() *conflict.Object {
				a := &conflict.Object{}
				a.SetAdd(dt(actA, 1), ts(10), values("x"))
				b := &conflict.Object{}
				b.SetAdd(dt(actB, 1), ts(11), values("x"))
				b.SetRemove(values("x"), b.Set.Ctx.Clone()) // saw only b1
				return conflict.Merge(conflict.Siblings, a, b)
			},
			want: []string{"x"},
		},
		"removeWithOlderContextKeepsLaterAdd": {
			run: func() *conflict.Object {
				a := &conflict.Object{}
				a.SetAdd(dt(actA, 1), ts(10), values("x"))
				read := a.Set.Ctx.Clone()
				a.SetAdd(dt(actA, 2), ts(12), values("x"))
				a.SetRemove(values("x"), read)
				return a
			},
			want: []string{"x"},
		},
		"removeAbsentIsNoop": {
			run: func() *conflict.Object {
				a := &conflict.Object{}
				a.SetAdd(dt(actA, 1), ts(10), values("x"))
				a.SetRemove(values("q"), a.Set.Ctx.Clone())
				return a
			},
			want: []string{"x"},
		},
		"readdAfterRemove": {
			run: func() *conflict.Object {
				a := &conflict.Object{}
				a.SetAdd(dt(actA, 1), ts(10), values("x"))
				a.SetRemove(values("x"), a.Set.Ctx.Clone())
				b := conflict.Merge(conflict.Siblings, &conflict.Object{}, a)
				b.SetAdd(dt(actB, 1), ts(20), values("x"))
				return conflict.Merge(conflict.Siblings, a, b)
			},
			want: []string{"x"},
		},
		"removeEverythingSeenEmptiesSet": {
			run: func() *conflict.Object {
				a := &conflict.Object{}
				a.SetAdd(dt(actA, 1), ts(10), values("x"))
				b := &conflict.Object{}
				b.SetAdd(dt(actB, 1), ts(11), values("x", "y"))
				a = conflict.Merge(conflict.Siblings, a, b)
				a.SetRemove(values("x", "y"), a.Set.Ctx.Clone())
				return conflict.Merge(conflict.Siblings, b, a)
			},
			want: []string{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := tc.run()
			if got := strs(o.Set.Values()); !slices.Equal(got, tc.want) {
				t.Fatalf("members %q, want %q\n  %s", got, tc.want, dump(o))
			}
			for _, m := range o.Set.Members {
				for _, st := range m.Stamps {
					if !o.Set.Ctx.Contains(st.Dot) {
						t.Fatalf("add %v outside the set context", st.Dot)
					}
				}
			}
		})
	}
}

func TestORSet_SetAdd(t *testing.T) {
	o := &conflict.Object{}
	o.SetAdd(dt(actA, 1), ts(10), values("y", "x", "y"))
	if got := strs(o.Set.Values()); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("members %q, want sorted [x y]", got)
	}
	o.SetAdd(dt(actA, 4), ts(11), values("x"))
	if st := o.Set.Members[0].Stamps; len(st) != 1 || st[0].Dot != dt(actA, 4) {
		t.Fatalf("re-adding x kept %v: the local add was seen and goes", st)
	}
	if st := o.Set.Members[1].Stamps; len(st) != 1 || st[0].Dot != dt(actA, 1) {
		t.Fatalf("y's adds %v, want [a:1]", st)
	}
	if !o.Set.Ctx.Contains(dt(actA, 4)) || o.Reg.Ctx.Contains(dt(actA, 4)) {
		t.Fatalf("the add's dot belongs to the set context only: reg %s set %s", dumpCtx(o.Reg.Ctx), dumpCtx(o.Set.Ctx))
	}
	in := values("w")
	o.SetAdd(dt(actA, 5), ts(12), in)
	in[0][0] = 'q'
	if got := strs(o.Set.Values()); !slices.Equal(got, []string{"w", "x", "y"}) {
		t.Fatalf("SetAdd kept the caller's bytes: %q", got)
	}
}

// Merged adds of one member from two replicas both stay until a remove sees
// them.
func TestORSet_Merge_keepsConcurrentAdds(t *testing.T) {
	a := &conflict.Object{}
	a.SetAdd(dt(actA, 1), ts(10), values("x"))
	b := &conflict.Object{}
	b.SetAdd(dt(actB, 1), ts(11), values("x"))
	m := conflict.Merge(conflict.Siblings, a, b)
	if len(m.Set.Members) != 1 || len(m.Set.Members[0].Stamps) != 2 {
		t.Fatalf("want x with two adds: %s", dump(m))
	}
}
