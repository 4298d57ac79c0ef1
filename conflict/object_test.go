package conflict_test

import (
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
)

// Property 8: type resolution.
func TestObject_Kind(t *testing.T) {
	tests := map[string]struct {
		run         func(p conflict.Policy) *conflict.Object
		kind        conflict.Kind
		values      []string
		members     []string
		hiddenPart  bool
		onlyInSibls bool // the case only makes sense under Siblings
	}{
		"empty": {
			run:  func(conflict.Policy) *conflict.Object { return &conflict.Object{} },
			kind: conflict.KindNone,
		},
		"registerOnly": {
			run: func(p conflict.Policy) *conflict.Object {
				return put(p, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
			},
			kind: conflict.KindRegister, values: []string{"v"},
		},
		"setOnly": {
			run: func(conflict.Policy) *conflict.Object {
				o := &conflict.Object{}
				o.SetAdd(dt(actA, 1), ts(10), values("x"))
				return o
			},
			kind: conflict.KindSet, members: []string{"x"},
		},
		"setLater": {
			run: func(p conflict.Policy) *conflict.Object {
				o := put(p, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
				o.SetAdd(dt(actA, 2), ts(20), values("x"))
				return o
			},
			kind: conflict.KindSet, members: []string{"x"}, hiddenPart: true,
		},
		"registerLater": {
			run: func(p conflict.Policy) *conflict.Object {
				o := &conflict.Object{}
				o.SetAdd(dt(actA, 1), ts(10), values("x"))
				return put(p, o, dt(actA, 2), 20, "v", conflict.Context{})
			},
			kind: conflict.KindRegister, values: []string{"v"}, hiddenPart: true,
		},
		"sameTimestampLargerActorWins": {
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
				b := &conflict.Object{}
				b.SetAdd(dt(actB, 1), ts(10), values("x"))
				return conflict.Merge(p, a, b)
			},
			kind: conflict.KindSet, members: []string{"x"}, hiddenPart: true,
		},
		"tombstoneIsNotLive": {
			// The register's latest version is a tombstone later than the
			// add: the key reads as the set.
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
				b := &conflict.Object{}
				b.SetAdd(dt(actB, 1), ts(20), values("x"))
				a.Delete(p, dt(actA, 2), ts(30), a.Reg.Ctx.Clone(), a.Set.Ctx.Clone())
				return conflict.Merge(p, a, b)
			},
			kind: conflict.KindSet, members: []string{"x"},
		},
		"olderLiveSiblingStillCounts": {
			// Siblings: a tombstone beside an older live value; the live one
			// decides against an even older add.
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 1), 20, "v", conflict.Context{})
				a.SetAdd(dt(actA, 2), ts(10), values("x"))
				b := &conflict.Object{}
				b.Delete(p, dt(actB, 1), ts(30), conflict.Context{}, conflict.Context{})
				return conflict.Merge(p, a, b)
			},
			kind: conflict.KindRegister, values: []string{"v"}, hiddenPart: true, onlyInSibls: true,
		},
		"deleteRemovesBothPartsSeen": {
			run: func(p conflict.Policy) *conflict.Object {
				o := put(p, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
				o.SetAdd(dt(actA, 2), ts(20), values("x", "y"))
				o.Delete(p, dt(actA, 3), ts(30), o.Reg.Ctx.Clone(), o.Set.Ctx.Clone())
				return o
			},
			kind: conflict.KindNone,
		},
		"deleteKeepsUnseenAdd": {
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
				a.SetAdd(dt(actA, 2), ts(11), values("x"))
				b := conflict.Merge(p, &conflict.Object{}, a)
				b.SetAdd(dt(actB, 1), ts(12), values("y"))
				a.Delete(p, dt(actA, 3), ts(30), a.Reg.Ctx.Clone(), a.Set.Ctx.Clone())
				return conflict.Merge(p, a, b)
			},
			kind: conflict.KindSet, members: []string{"y"},
		},
		"deleteKeepsUnseenPut": {
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 1), 10, "a1", conflict.Context{})
				b := put(p, &conflict.Object{}, dt(actB, 1), 11, "b1", conflict.Context{})
				a.Delete(p, dt(actA, 2), ts(30), a.Reg.Ctx.Clone(), a.Set.Ctx.Clone())
				return conflict.Merge(p, a, b)
			},
			kind: conflict.KindRegister, values: []string{"b1"}, onlyInSibls: true,
		},
	}
	for name, tc := range tests {
		for _, p := range policies {
			if tc.onlyInSibls && p != conflict.Siblings {
				continue
			}
			t.Run(name+"/"+p.String(), func(t *testing.T) {
				o := tc.run(p)
				if got := o.Kind(); got != tc.kind {
					t.Fatalf("Kind() = %v, want %v\n  %s", got, tc.kind, dump(o))
				}
				if got := o.Live(); got != (tc.kind != conflict.KindNone) {
					t.Fatalf("Live() = %v", got)
				}
				if got := strs(o.Values()); !slices.Equal(got, tc.values) {
					t.Fatalf("Values() = %q, want %q", got, tc.values)
				}
				if got := strs(o.Members()); !slices.Equal(got, tc.members) {
					t.Fatalf("Members() = %q, want %q", got, tc.members)
				}
				if got := o.HiddenPart(); got != tc.hiddenPart {
					t.Fatalf("HiddenPart() = %v, want %v", got, tc.hiddenPart)
				}
			})
		}
	}
}

func TestKind_String(t *testing.T) {
	for k, want := range map[conflict.Kind]string{conflict.KindNone: "none", conflict.KindRegister: "register", conflict.KindSet: "set"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}
