package conflict_test

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/quorumkv/quorumkv/conflict"
)

// The oracle: what a replica's object must hold, derived from the events it
// reflects and what each write's read had seen (see model_test.go).

// versions returns the register versions r knows that no write r knows
// replaced, in dot order: under Siblings, exactly r's siblings.
func (m *model) versions(r *replica) []*event {
	var out []*event
	for _, e := range m.events {
		if !e.register() || !has(r.known.reg, e.id) {
			continue
		}
		if !slices.ContainsFunc(m.events, func(w *event) bool { return has(r.known.reg, w.id) && w.replaces(e) }) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *event) int { return a.dot.Compare(b.dot) })
	return out
}

// adds returns, per member, the adds r knows that nothing r knows dropped,
// in dot order.
func (m *model) adds(r *replica) map[string][]*event {
	out := map[string][]*event{}
	for _, e := range m.events {
		if e.kind != opAdd || !has(r.known.set, e.id) {
			continue
		}
		for _, v := range e.members {
			if !slices.ContainsFunc(m.events, func(w *event) bool { return has(r.known.set, w.id) && w.drops(e, v) }) {
				out[string(v)] = append(out[string(v)], e)
			}
		}
	}
	for _, evs := range out {
		slices.SortFunc(evs, func(a, b *event) int { return a.dot.Compare(b.dot) })
	}
	return out
}

// expectedRegister returns the siblings r must hold under the policy.
func (m *model) expectedRegister(r *replica) []*event {
	m.tb.Helper()
	vs := m.versions(r)
	if m.cfg.policy == conflict.Siblings || len(vs) == 0 {
		return vs
	}
	w := latestEvent(vs)
	// Sanity of the oracle: with timestamps from the clocks, the latest
	// version not replaced is the latest version known at all.
	var all []*event
	for _, e := range m.events {
		if e.register() && has(r.known.reg, e.id) {
			all = append(all, e)
		}
	}
	if l := latestEvent(all); l != w {
		m.tb.Fatalf("oracle: the latest register write %v was replaced, the winner is %v", l, w)
	}
	return []*event{w}
}

func (m *model) checkReplica(r *replica, what checks) {
	m.tb.Helper()
	if what == 0 {
		return
	}
	o := r.obj
	fail := func(format string, args ...any) {
		m.tb.Helper()
		m.tb.Fatalf("replica %d after %d steps: %s\n  object: %s\n  history:%s", r.id, m.steps, fmt.Sprintf(format, args...), dump(o), m.history())
	}
	if what&checkContexts != 0 {
		// Per-key contexts over node-wide counters: the context holds
		// exactly the dots of the writes the replica knows.
		for _, e := range m.events {
			var got, want bool
			switch {
			case e.register():
				got, want = o.Reg.Ctx.Contains(e.dot), has(r.known.reg, e.id)
			case e.kind == opAdd:
				got, want = o.Set.Ctx.Contains(e.dot), has(r.known.set, e.id)
			default:
				continue
			}
			if got != want {
				fail("context contains %v (%v): %v, want %v", e.dot, e, got, want)
			}
		}
	}
	want := m.expectedRegister(r)
	if what&checkRegister != 0 {
		if len(o.Reg.Siblings) != len(want) {
			fail("%d siblings, want %v", len(o.Reg.Siblings), want)
		}
		for i, s := range o.Reg.Siblings {
			e := want[i]
			if s.Dot != e.dot || s.TS != e.ts || s.Tombstone != (e.kind == opDelete) || !bytes.Equal(s.Value, e.value) {
				fail("sibling %d is %v@%v %q tombstone=%v, want %v", i, s.Dot, s.TS, s.Value, s.Tombstone, e)
			}
		}
	}
	adds := m.adds(r)
	if what&checkSet != 0 {
		if len(o.Set.Members) != len(adds) {
			fail("%d members, want %d: %v", len(o.Set.Members), len(adds), adds)
		}
		for _, mem := range o.Set.Members {
			evs := adds[string(mem.Value)]
			if len(evs) != len(mem.Stamps) {
				fail("member %q has %d adds, want %v", mem.Value, len(mem.Stamps), evs)
			}
			for i, st := range mem.Stamps {
				if st.Dot != evs[i].dot || st.TS != evs[i].ts {
					fail("member %q add %d is %v@%v, want %v", mem.Value, i, st.Dot, st.TS, evs[i])
				}
			}
		}
	}
	if what&checkKind != 0 {
		var live []*event
		for _, e := range want {
			if e.kind != opDelete {
				live = append(live, e)
			}
		}
		var stamps []*event
		for _, evs := range adds {
			stamps = append(stamps, evs...)
		}
		reg, set := latestEvent(live), latestEvent(stamps)
		kind := conflict.KindNone
		switch {
		case reg != nil && (set == nil || laterThan(reg.ts, reg.dot, set.ts, set.dot)):
			kind = conflict.KindRegister
		case set != nil:
			kind = conflict.KindSet
		}
		if got := o.Kind(); got != kind {
			fail("Kind() = %v, want %v (latest live version %v, latest add %v)", got, kind, reg, set)
		}
		if got := o.Live(); got != (kind != conflict.KindNone) {
			fail("Live() = %v with kind %v", got, kind)
		}
		if got, want := o.HiddenPart(), reg != nil && set != nil; got != want {
			fail("HiddenPart() = %v, want %v", got, want)
		}
		var wantValues, wantMembers []string
		switch kind {
		case conflict.KindRegister:
			for _, e := range live {
				wantValues = append(wantValues, string(e.value))
			}
		case conflict.KindSet:
			for v := range adds {
				wantMembers = append(wantMembers, v)
			}
			slices.Sort(wantMembers)
		}
		if got := strs(o.Values()); !slices.Equal(got, wantValues) {
			fail("Values() = %q, want %q", got, wantValues)
		}
		if got := strs(o.Members()); !slices.Equal(got, wantMembers) {
			fail("Members() = %q, want %q", got, wantMembers)
		}
	}
}
