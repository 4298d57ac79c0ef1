package conflict

// Kind is the type a key reads as.
type Kind uint8

// The kinds of object.
const (
	// KindNone: nothing live; the key accepts a write of either type.
	KindNone Kind = iota
	// KindRegister: the register part holds the latest live version.
	KindRegister
	// KindSet: the set part holds the latest live version.
	KindSet
)

// String names the kind as users see it.
func (k Kind) String() string {
	switch k {
	case KindRegister:
		return "register"
	case KindSet:
		return "set"
	}
	return "none"
}

// Object is everything stored under a key: a register part and a set part,
// each merged by its own rule, so merge of the whole stays a join. The key
// reads as the type whose part holds the live version with the larger
// (timestamp, actor); the other part stays stored.
//
// An Object is a value owned by its holder: Merge and Clone return new ones,
// the operations change the receiver only.
type Object struct {
	Reg Register
	Set ORSet
}

// Kind returns the type the key reads as.
func (o *Object) Kind() Kind {
	reg := o.Reg.latestLive()
	set, ok := o.Set.latest()
	switch {
	case reg == nil && !ok:
		return KindNone
	case reg == nil:
		return KindSet
	case !ok:
		return KindRegister
	case set.later(reg):
		return KindSet
	}
	return KindRegister
}

// HiddenPart reports whether the part the key does not read as still holds
// something live (DESIGN.md counts these in a metric).
func (o *Object) HiddenPart() bool {
	return o.Reg.latestLive() != nil && len(o.Set.Members) > 0
}

// PayloadBytes returns the bytes of every sibling value and set member the
// object stores, tombstoned or hidden ones included: what the object limit
// (--max-object-bytes) bounds. Dots, timestamps and contexts are not
// counted; peer messages leave room for them.
func (o *Object) PayloadBytes() int {
	n := 0
	for i := range o.Reg.Siblings {
		n += len(o.Reg.Siblings[i].Value)
	}
	for i := range o.Set.Members {
		n += len(o.Set.Members[i].Value)
	}
	return n
}

// Live reports whether the object holds a live sibling or member. An object
// that does not is a tombstone.
func (o *Object) Live() bool { return o.Kind() != KindNone }

// Values returns the live register values in dot order (siblings), or nil
// when the key does not read as a register.
func (o *Object) Values() [][]byte {
	if o.Kind() != KindRegister {
		return nil
	}
	live := o.Reg.Live()
	out := make([][]byte, len(live))
	for i := range live {
		out[i] = live[i].Value
	}
	return out
}

// Members returns the set members in bytewise order, or nil when the key
// does not read as a set.
func (o *Object) Members() [][]byte {
	if o.Kind() != KindSet {
		return nil
	}
	return o.Set.Values()
}

// MaxTimestamp returns the largest timestamp stored in the object, of any
// sibling (tombstones included) or add; zero for an empty object.
func (o *Object) MaxTimestamp() Timestamp {
	var ts Timestamp
	for _, s := range o.Reg.Siblings {
		if ts.Less(s.TS) {
			ts = s.TS
		}
	}
	for _, m := range o.Set.Members {
		for _, st := range m.Stamps {
			if ts.Less(st.TS) {
				ts = st.TS
			}
		}
	}
	return ts
}

// Put writes value as a new sibling stamped (dot, ts), replacing the
// siblings ctx has seen; with an empty ctx (a blind write) it is concurrent
// with all of them. dot must be freshly minted by the caller's actor on top
// of o, and ts must be above ctx's largest timestamp.
func (o *Object) Put(p Policy, dot Dot, ts Timestamp, value []byte, ctx Context) {
	v := value
	if v == nil {
		v = []byte{}
	}
	o.Reg.write(p, Sibling{Dot: dot, TS: ts, Value: v}, ctx)
}

// Delete writes a tombstone stamped (dot, ts) replacing the siblings ctx has
// seen, and removes the set adds setCtx has seen, so a delete removes
// exactly what its read saw, of either type. As for SetRemove, setCtx must
// come from a read whose object the caller has merged into o first.
func (o *Object) Delete(p Policy, dot Dot, ts Timestamp, ctx, setCtx Context) {
	o.Reg.write(p, Sibling{Dot: dot, TS: ts, Tombstone: true}, ctx)
	if len(o.Set.Members) > 0 {
		o.Set.remove(o.Set.Values(), setCtx)
	}
}

// SetAdd adds members under one add stamped (dot, ts).
func (o *Object) SetAdd(dot Dot, ts Timestamp, members [][]byte) {
	o.Set.add(Stamp{Dot: dot, TS: ts}, members)
}

// SetRemove removes, of each member, the adds ctx has seen. ctx must be the
// set context of a read whose object the caller has merged into o first, so
// that every add it saw is here to be removed; an add it did not see stays
// (add wins).
func (o *Object) SetRemove(members [][]byte, ctx Context) {
	o.Set.remove(members, ctx)
}

// Merge returns the join of a and b under policy p; a and b are unchanged.
// It is commutative, associative and idempotent and mints nothing. The
// result shares value bytes with a and b.
func Merge(p Policy, a, b *Object) *Object {
	return &Object{Reg: mergeRegisters(p, &a.Reg, &b.Reg), Set: mergeSets(&a.Set, &b.Set)}
}

// Clone returns a deep copy of o.
func (o *Object) Clone() *Object {
	return &Object{Reg: o.Reg.clone(), Set: o.Set.clone()}
}
