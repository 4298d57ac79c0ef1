package conflict_test

import (
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
)

func TestPolicy_String_ParsePolicy(t *testing.T) {
	tests := map[string]struct {
		p    conflict.Policy
		ok   bool
		name string
	}{
		"lww":      {p: conflict.LWW, ok: true, name: "lww"},
		"siblings": {p: conflict.Siblings, ok: true, name: "siblings"},
		"LWW":      {ok: false},
		"":         {ok: false},
	}
	for in, tc := range tests {
		t.Run(in, func(t *testing.T) {
			p, ok := conflict.ParsePolicy(in)
			if ok != tc.ok || p != tc.p {
				t.Fatalf("ParsePolicy(%q) = %v, %v; want %v, %v", in, p, ok, tc.p, tc.ok)
			}
			if ok && p.String() != tc.name {
				t.Fatalf("String() = %q, want %q", p.String(), tc.name)
			}
		})
	}
	if got := conflict.Policy(0).String(); got != "unknown" {
		t.Fatalf("Policy(0).String() = %q", got)
	}
}

// put is a write at an object: value with dot d at wall time w, with the
// given context.
func put(p conflict.Policy, o *conflict.Object, d conflict.Dot, w int64, v string, ctx conflict.Context) *conflict.Object {
	o.Put(p, d, ts(w), []byte(v), ctx)
	return o
}

func TestObject_Put(t *testing.T) {
	tests := map[string]struct {
		// run returns the object to read.
		run  func(p conflict.Policy) *conflict.Object
		want map[conflict.Policy][]string // Values(), in dot order
	}{
		"first": {
			run: func(p conflict.Policy) *conflict.Object {
				return put(p, &conflict.Object{}, dt(actA, 1), 10, "v1", conflict.Context{})
			},
			want: map[conflict.Policy][]string{conflict.LWW: {"v1"}, conflict.Siblings: {"v1"}},
		},
		"replacesSeen": {
			run: func(p conflict.Policy) *conflict.Object {
				o := put(p, &conflict.Object{}, dt(actA, 1), 10, "v1", conflict.Context{})
				return put(p, o, dt(actA, 2), 20, "v2", o.Reg.Ctx.Clone())
			},
			want: map[conflict.Policy][]string{conflict.LWW: {"v2"}, conflict.Siblings: {"v2"}},
		},
		"blindKeepsWhatItDidNotSee": {
			run: func(p conflict.Policy) *conflict.Object {
				o := put(p, &conflict.Object{}, dt(actA, 1), 10, "v1", conflict.Context{})
				return put(p, o, dt(actA, 2), 20, "v2", conflict.Context{})
			},
			want: map[conflict.Policy][]string{conflict.LWW: {"v2"}, conflict.Siblings: {"v1", "v2"}},
		},
		"replacesOnlySeenOfMany": {
			// The read saw a1 and b1; c1 arrived after it.
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 1), 10, "a1", conflict.Context{})
				b := put(p, &conflict.Object{}, dt(actB, 1), 11, "b1", conflict.Context{})
				c := put(p, &conflict.Object{}, dt(actC, 1), 12, "c1", conflict.Context{})
				a = conflict.Merge(p, a, b)
				read := a.Reg.Ctx.Clone()
				a = conflict.Merge(p, a, c)
				return put(p, a, dt(actA, 2), 20, "a2", read)
			},
			want: map[conflict.Policy][]string{conflict.LWW: {"a2"}, conflict.Siblings: {"a2", "c1"}},
		},
		"contextCountsPerKeyNotPerCounter": {
			// actA's counters advanced on other keys (1..4): the context of
			// this key still covers a5 and nothing of b.
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 5), 10, "a5", conflict.Context{})
				b := put(p, &conflict.Object{}, dt(actB, 9), 11, "b9", conflict.Context{})
				read := a.Reg.Ctx.Clone()
				a = put(p, a, dt(actA, 17), 20, "a17", read)
				return conflict.Merge(p, a, b)
			},
			want: map[conflict.Policy][]string{conflict.LWW: {"a17"}, conflict.Siblings: {"a17", "b9"}},
		},
		"lwwLaterTimestampWins": {
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 1), 20, "a1", conflict.Context{})
				b := put(p, &conflict.Object{}, dt(actB, 1), 10, "b1", conflict.Context{})
				return conflict.Merge(p, a, b)
			},
			want: map[conflict.Policy][]string{conflict.LWW: {"a1"}, conflict.Siblings: {"a1", "b1"}},
		},
		"lwwTieBrokenByActor": {
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 7), 10, "a7", conflict.Context{})
				b := put(p, &conflict.Object{}, dt(actB, 1), 10, "b1", conflict.Context{})
				return conflict.Merge(p, a, b)
			},
			want: map[conflict.Policy][]string{conflict.LWW: {"b1"}, conflict.Siblings: {"a7", "b1"}},
		},
		"emptyValueIsLive": {
			run: func(p conflict.Policy) *conflict.Object {
				o := &conflict.Object{}
				o.Put(p, dt(actA, 1), ts(10), nil, conflict.Context{})
				return o
			},
			want: map[conflict.Policy][]string{conflict.LWW: {""}, conflict.Siblings: {""}},
		},
		"deleteWithContextLeavesNothingLive": {
			run: func(p conflict.Policy) *conflict.Object {
				o := put(p, &conflict.Object{}, dt(actA, 1), 10, "v1", conflict.Context{})
				o.Delete(p, dt(actA, 2), ts(20), o.Reg.Ctx.Clone(), o.Set.Ctx.Clone())
				return o
			},
			want: map[conflict.Policy][]string{conflict.LWW: nil, conflict.Siblings: nil},
		},
		"deleteKeepsConcurrentPut": {
			run: func(p conflict.Policy) *conflict.Object {
				a := put(p, &conflict.Object{}, dt(actA, 1), 10, "a1", conflict.Context{})
				b := put(p, &conflict.Object{}, dt(actB, 1), 30, "b1", conflict.Context{})
				a.Delete(p, dt(actA, 2), ts(20), a.Reg.Ctx.Clone(), a.Set.Ctx.Clone())
				return conflict.Merge(p, a, b)
			},
			want: map[conflict.Policy][]string{conflict.LWW: {"b1"}, conflict.Siblings: {"b1"}},
		},
	}
	for name, tc := range tests {
		for _, p := range policies {
			t.Run(name+"/"+p.String(), func(t *testing.T) {
				o := tc.run(p)
				if got := strs(o.Values()); !slices.Equal(got, tc.want[p]) {
					t.Fatalf("Values() = %q, want %q\n  %s", got, tc.want[p], dump(o))
				}
				if p == conflict.LWW && len(o.Reg.Siblings) > 1 {
					t.Fatalf("LWW keeps %d siblings", len(o.Reg.Siblings))
				}
				for _, s := range o.Reg.Siblings {
					if !o.Reg.Ctx.Contains(s.Dot) {
						t.Fatalf("sibling %v outside the context %s", s.Dot, dumpCtx(o.Reg.Ctx))
					}
				}
				if _, err := conflict.DecodeObject(o.Marshal()); err != nil {
					t.Fatalf("the result does not decode: %v", err)
				}
			})
		}
	}
}

// Property 2: A writes v1; B reads it (replication) and overwrites it with
// that context while C writes v3 blind. Everywhere after merging: v2 and v3,
// never v1, in whatever order the objects meet.
func TestRegister_Put_replacesSeen(t *testing.T) {
	p := conflict.Siblings
	a := put(p, &conflict.Object{}, dt(actA, 1), 10, "v1", conflict.Context{})
	b := conflict.Merge(p, &conflict.Object{}, a)
	b = put(p, b, dt(actB, 1), 20, "v2", b.Reg.Ctx.Clone())
	c := put(p, &conflict.Object{}, dt(actC, 1), 15, "v3", conflict.Context{})
	objs := []*conflict.Object{a, b, c}
	idx := []int{0, 1, 2}
	permute(idx, 0, func(order []int) {
		got := merged(p, objs[order[0]], objs[order[1]], objs[order[2]])
		if !sameStrings(got.Values(), "v2", "v3") {
			t.Fatalf("order %v: Values() = %q, want [v2 v3]\n  %s", order, strs(got.Values()), dump(got))
		}
	})
	// A, which still holds v1, loses it on merging with B alone.
	if got := conflict.Merge(p, a, b); !sameStrings(got.Values(), "v2") {
		t.Fatalf("A ⊔ B = %q, want [v2]", strs(got.Values()))
	}
	// C's version, unseen by B's read, survives B.
	if got := conflict.Merge(p, c, b); !sameStrings(got.Values(), "v2", "v3") {
		t.Fatalf("C ⊔ B = %q, want [v2 v3]", strs(got.Values()))
	}
}

// Property 3: a blind put stays beside everything, seen or not; the next put
// with the read's context replaces both.
func TestRegister_Put_blindKeepsConcurrent(t *testing.T) {
	p := conflict.Siblings
	a := put(p, &conflict.Object{}, dt(actA, 1), 10, "v1", conflict.Context{})
	b := conflict.Merge(p, &conflict.Object{}, a)
	b = put(p, b, dt(actB, 1), 20, "v2", conflict.Context{}) // B holds v1 but writes blind
	if got := conflict.Merge(p, a, b); !sameStrings(got.Values(), "v1", "v2") {
		t.Fatalf("after a blind put: %q, want [v1 v2]", strs(got.Values()))
	}
	all := conflict.Merge(p, a, b)
	all = put(p, all, dt(actA, 2), 30, "v3", all.Reg.Ctx.Clone())
	if got := merged(p, a, b, all); !sameStrings(got.Values(), "v3") {
		t.Fatalf("after resolving: %q, want [v3]", strs(got.Values()))
	}
}

// A put with the context of a read at another replica replaces, on merge,
// what that read saw, also versions the writing replica does not hold.
func TestRegister_Put_contextFromAnotherReplica(t *testing.T) {
	p := conflict.Siblings
	b := put(p, &conflict.Object{}, dt(actB, 1), 10, "b1", conflict.Context{})
	read := b.Reg.Ctx.Clone()
	a := put(p, &conflict.Object{}, dt(actA, 1), 20, "a1", read)
	if got := conflict.Merge(p, b, a); !sameStrings(got.Values(), "a1") {
		t.Fatalf("Values() = %q, want [a1]", strs(got.Values()))
	}
}

func TestMerge_doesNotChangeInputs(t *testing.T) {
	for _, p := range policies {
		a := put(p, &conflict.Object{}, dt(actA, 1), 10, "a1", conflict.Context{})
		a.SetAdd(dt(actA, 2), ts(11), values("x", "y"))
		b := put(p, &conflict.Object{}, dt(actB, 1), 12, "b1", conflict.Context{})
		b.SetAdd(dt(actB, 2), ts(13), values("y"))
		ab, bb := a.Marshal(), b.Marshal()
		m := conflict.Merge(p, a, b)
		m.Put(p, dt(actA, 3), ts(20), []byte("a3"), m.Reg.Ctx.Clone())
		m.SetRemove(values("y"), m.Set.Ctx.Clone())
		m.SetAdd(dt(actA, 4), ts(21), values("x"))
		if string(a.Marshal()) != string(ab) || string(b.Marshal()) != string(bb) {
			t.Fatalf("%v: writing to a merge result changed its inputs", p)
		}
	}
}

func TestObject_Clone(t *testing.T) {
	o := put(conflict.Siblings, &conflict.Object{}, dt(actA, 1), 10, "abc", conflict.Context{})
	o.SetAdd(dt(actA, 2), ts(11), values("x"))
	want := o.Marshal()
	c := o.Clone()
	requireSameBytes(t, "clone", o, c)
	c.Reg.Siblings[0].Value[0] = 'z'
	c.Set.Members[0].Value[0] = 'z'
	c.Set.Members[0].Stamps[0].TS = ts(99)
	c.Reg.Ctx.VV[0].Counter = 99
	c.Set.Ctx.VV[0].Counter = 99
	if string(o.Marshal()) != string(want) {
		t.Fatalf("changing the clone changed the original: %s", dump(o))
	}
}

func TestObject_MaxTimestamp(t *testing.T) {
	tests := map[string]struct {
		build func() *conflict.Object
		want  conflict.Timestamp
	}{
		"empty": {build: func() *conflict.Object { return &conflict.Object{} }},
		"sibling": {
			build: func() *conflict.Object {
				return put(conflict.Siblings, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
			},
			want: ts(10),
		},
		"tombstone": {
			build: func() *conflict.Object {
				o := put(conflict.Siblings, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
				o.Delete(conflict.Siblings, dt(actA, 2), conflict.Timestamp{Wall: 30, Logical: 2}, o.Reg.Ctx.Clone(), conflict.Context{})
				return o
			},
			want: conflict.Timestamp{Wall: 30, Logical: 2},
		},
		"add": {
			build: func() *conflict.Object {
				o := put(conflict.Siblings, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
				o.SetAdd(dt(actA, 2), ts(40), values("x"))
				return o
			},
			want: ts(40),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.build().MaxTimestamp(); got != tc.want {
				t.Fatalf("MaxTimestamp() = %v, want %v", got, tc.want)
			}
		})
	}
}
