package conflict_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
)

// The model: a few replicas of one key, each with its own actor (a
// DotIssuer over an in-memory lease store), its own hybrid logical clock over
// a skewed simulated wall clock, and its own *conflict.Object. Random
// operations run at random replicas the way a coordinator applies them, and
// random merges carry one replica's object to another the way replication,
// read repair and anti-entropy do.
//
// Writes carry the context of a read: of the replica's copy now, of an
// earlier read of it (a client that took its time), or, for a register put,
// of another replica's copy (the write reached another coordinator).
//
// Beside the objects the model keeps an oracle: every write as an event with
// the exact set of events its read had seen, and per replica the exact set
// of events its object reflects, per part (a merge unites them). From those
// alone it derives what each object must hold, without version vectors.

// chooser supplies the model's choices: a *rand.Rand, or fuzz bytes.
type chooser interface{ IntN(n int) int }

// byteChooser draws choices from fuzz input, one byte each; once the input
// is spent every choice is 0.
type byteChooser struct{ b []byte }

func (c *byteChooser) IntN(n int) int {
	if n <= 1 || len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}

type opKind int

const (
	opPut    opKind = iota // read-modify-write: the context of a read
	opBlind                // put without context
	opDelete               // register tombstone with the read's context, set remove of what it saw
	opAdd                  // set add
	opRemove               // set remove with the context of a read of the same replica
)

func (k opKind) String() string {
	return [...]string{"put", "blind", "delete", "sadd", "srem"}[k]
}

// event is one operation of the history and what its read had seen.
type event struct {
	id      int
	kind    opKind
	rep     int
	dot     conflict.Dot // zero for opRemove, which mints nothing
	ts      conflict.Timestamp
	value   []byte    // opPut, opBlind
	members [][]byte  // opAdd, opRemove; opDelete removes every member
	saw     knowledge // what the write's read had seen
}

func (e *event) String() string {
	return fmt.Sprintf("#%d %v@r%d %v ts=%v %q %q", e.id, e.kind, e.rep, e.dot, e.ts, e.value, e.members)
}

func (e *event) register() bool { return e.kind == opPut || e.kind == opBlind || e.kind == opDelete }

// inReg and inSet report which parts of the object the event writes.
func (e *event) inReg() bool { return e.register() }
func (e *event) inSet() bool { return e.kind == opAdd || e.kind == opRemove || e.kind == opDelete }

// knowledge is the set of events an object (or a read of it) reflects, per
// part: a put carrying the context of a read at another replica extends
// only the register's.
type knowledge struct{ reg, set []bool }

func has(b []bool, id int) bool { return id < len(b) && b[id] }

func unite(dst *[]bool, src []bool) {
	if len(src) > len(*dst) {
		*dst = append(*dst, make([]bool, len(src)-len(*dst))...)
	}
	for i, k := range src {
		(*dst)[i] = (*dst)[i] || k
	}
}

func (k knowledge) clone() knowledge {
	return knowledge{reg: slices.Clone(k.reg), set: slices.Clone(k.set)}
}

func (k *knowledge) unite(o knowledge) {
	unite(&k.reg, o.reg)
	unite(&k.set, o.set)
}

// replaces reports whether register write e replaces the version v: e
// carried the context of a read that had seen v. A blind put replaces
// nothing.
func (e *event) replaces(v *event) bool {
	return (e.kind == opPut || e.kind == opDelete) && has(e.saw.reg, v.id)
}

// drops reports whether e drops the add a of member m: e removes, deletes
// or re-adds m and its read had seen a.
func (e *event) drops(a *event, m []byte) bool {
	switch e.kind {
	case opAdd, opRemove:
		if !slices.ContainsFunc(e.members, func(x []byte) bool { return bytes.Equal(x, m) }) {
			return false
		}
	case opDelete:
	default:
		return false
	}
	return has(e.saw.set, a.id)
}

// laterThan is DESIGN.md's "later": greater (timestamp, actor), the counter
// last.
func laterThan(aTS conflict.Timestamp, a conflict.Dot, bTS conflict.Timestamp, b conflict.Dot) bool {
	if c := aTS.Compare(bTS); c != 0 {
		return c > 0
	}
	if a.Actor != b.Actor {
		return a.Actor > b.Actor
	}
	return a.Counter > b.Counter
}

func latestEvent(evs []*event) *event {
	var best *event
	for _, e := range evs {
		if best == nil || laterThan(e.ts, e.dot, best.ts, best.dot) {
			best = e
		}
	}
	return best
}

type replica struct {
	id     int
	store  *memLeaseStore
	issuer *conflict.DotIssuer
	clock  *conflict.Clock
	skew   time.Duration
	obj    *conflict.Object
	known  knowledge // the events obj reflects
	// lastRead is a read a client took at this replica earlier.
	lastRead *read
}

type modelConfig struct {
	policy conflict.Policy
	// skews holds each replica's wall clock offset from the simulated true
	// time; its length is the number of replicas.
	skews     []time.Duration
	maxOffset time.Duration // the clocks' --max-clock-offset
	leaseSize uint64
	// check lists the oracle checks run on the acting replica after every
	// step, and on every replica by converge.
	check checks
	// snapshots keeps a clone of the acting replica's object after every
	// step in model.states.
	snapshots bool
}

type checks uint8

const (
	checkContexts checks = 1 << iota
	checkRegister
	checkSet
	checkKind
	checkAllAspects = checkContexts | checkRegister | checkSet | checkKind
)

type model struct {
	tb     testing.TB
	cfg    modelConfig
	now    time.Time // simulated true time
	reps   []*replica
	events []*event
	states []*conflict.Object
	steps  int
}

// newModel builds the replicas; actorIDs supplies the random bytes their
// actors are drawn from.
func newModel(tb testing.TB, cfg modelConfig, actorIDs func() uint64) *model {
	tb.Helper()
	if cfg.maxOffset == 0 {
		cfg.maxOffset = 500 * time.Millisecond
	}
	if cfg.leaseSize == 0 {
		cfg.leaseSize = 3
	}
	m := &model{tb: tb, cfg: cfg, now: time.Unix(1_700_000_000, 0)}
	seen := map[conflict.ActorID]bool{}
	for i, skew := range cfg.skews {
		r := &replica{id: i, store: &memLeaseStore{}, skew: skew, obj: &conflict.Object{}}
		iss, err := conflict.OpenDotIssuer(r.store, cfg.leaseSize, funcReader(actorIDs))
		if err != nil {
			tb.Fatalf("OpenDotIssuer: %v", err)
		}
		if seen[iss.Actor()] {
			tb.Fatalf("actor %v drawn twice", iss.Actor())
		}
		seen[iss.Actor()] = true
		r.issuer = iss
		r.clock = conflict.NewClock(func() time.Time { return m.now.Add(r.skew) }, cfg.maxOffset)
		m.reps = append(m.reps, r)
	}
	return m
}

// randomSkews returns n skews: the first replica 300ms behind, the others a
// few ms either side or ahead, in whole milliseconds so that replicas often
// read the same wall time and timestamps tie.
func randomSkews(c chooser, n int) []time.Duration {
	ms := time.Millisecond
	choices := []time.Duration{-50 * ms, 0, 0, 0, 50 * ms, 150 * ms}
	out := []time.Duration{-300 * time.Millisecond}
	for len(out) < n {
		out = append(out, choices[c.IntN(len(choices))])
	}
	return out
}

// step advances the simulated time by 0 to 1.5ms and runs one random
// operation or merge.
func (m *model) step(c chooser) {
	m.tb.Helper()
	m.steps++
	m.now = m.now.Add(time.Duration(c.IntN(4)) * 500 * time.Microsecond)
	r := m.reps[c.IntN(len(m.reps))]
	switch x := c.IntN(20); {
	case x < 4:
		m.put(r, m.pickRead(c, r, true))
	case x < 6:
		m.blind(r)
	case x < 7:
		m.del(r, m.pickRead(c, r, false))
	case x < 10:
		m.add(r, pickMembers(c))
	case x < 12:
		m.remove(r, pickMembers(c), m.pickRead(c, r, false))
	case x < 13:
		// Dots minted for other keys: counters are node-wide.
		for range 1 + c.IntN(3) {
			m.mint(r)
		}
	case x < 14:
		// A client reads now and writes with that context later.
		r.lastRead = r.read()
	default:
		m.merge(r, m.other(c, r))
	}
	m.after(r)
}

func (m *model) other(c chooser, r *replica) *replica {
	return m.reps[(r.id+1+c.IntN(len(m.reps)-1))%len(m.reps)]
}

// read is what a client's read returns: the contexts and the largest
// timestamp of a replica's object, and, for the oracle, the events the
// object reflected.
type read struct {
	rep      int
	reg, set conflict.Context
	maxTS    conflict.Timestamp
	known    knowledge
}

func (r *replica) read() *read {
	return &read{
		rep:   r.id,
		reg:   r.obj.Reg.Ctx.Clone(),
		set:   r.obj.Set.Ctx.Clone(),
		maxTS: r.obj.MaxTimestamp(),
		known: r.known.clone(),
	}
}

// pickRead returns the read a write at r carries: a read of r's copy now,
// an earlier read of it (the client took its time), or, for a register
// put, a read of another replica's copy (the write reaches another
// coordinator than the read).
func (m *model) pickRead(c chooser, r *replica, foreign bool) *read {
	switch c.IntN(4) {
	case 1:
		if r.lastRead != nil {
			return r.lastRead
		}
	case 2:
		if foreign {
			return m.other(c, r).read()
		}
	}
	return r.read()
}

var memberNames = []string{"x", "y", "z"}

func pickMembers(c chooser) [][]byte {
	first := c.IntN(len(memberNames))
	out := [][]byte{[]byte(memberNames[first])}
	if c.IntN(3) == 0 {
		out = append(out, []byte(memberNames[(first+1)%len(memberNames)]))
	}
	return out
}

func (m *model) mint(r *replica) conflict.Dot {
	m.tb.Helper()
	d, err := r.issuer.Next()
	if err != nil {
		m.tb.Fatalf("replica %d: Next: %v", r.id, err)
	}
	return d
}

// stampAbove is the timestamp of a write carrying rd: above everything the
// read saw and everything r's clock has seen.
func (m *model) stampAbove(r *replica, rd *read) conflict.Timestamp {
	m.tb.Helper()
	at, err := r.clock.NowAbove(rd.maxTS)
	if err != nil {
		m.tb.Fatalf("replica %d: NowAbove(%v): %v", r.id, rd.maxTS, err)
	}
	return at
}

// record appends an event of r whose read had seen saw, and marks it known
// to r in the parts it writes.
func (m *model) record(r *replica, e *event, saw knowledge) {
	e.id, e.rep = len(m.events), r.id
	e.saw = saw.clone()
	m.events = append(m.events, e)
	self := make([]bool, len(m.events))
	self[e.id] = true
	if e.inReg() {
		unite(&r.known.reg, self)
	}
	if e.inSet() {
		unite(&r.known.set, self)
	}
}

// put is a read-modify-write: it replaces what rd saw.
func (m *model) put(r *replica, rd *read) {
	m.tb.Helper()
	at := m.stampAbove(r, rd)
	d := m.mint(r)
	v := fmt.Appendf(nil, "v%d", len(m.events))
	m.record(r, &event{kind: opPut, dot: d, ts: at, value: v}, rd.known)
	r.obj.Put(m.cfg.policy, d, at, v, rd.reg)
	// The register now carries the read's context, foreign or not.
	unite(&r.known.reg, rd.known.reg)
}

func (m *model) blind(r *replica) {
	m.tb.Helper()
	at := r.clock.Now()
	d := m.mint(r)
	v := fmt.Appendf(nil, "v%d", len(m.events))
	m.record(r, &event{kind: opBlind, dot: d, ts: at, value: v}, knowledge{})
	r.obj.Put(m.cfg.policy, d, at, v, conflict.Context{})
}

func (m *model) del(r *replica, rd *read) {
	m.tb.Helper()
	at := m.stampAbove(r, rd)
	d := m.mint(r)
	m.record(r, &event{kind: opDelete, dot: d, ts: at}, rd.known)
	r.obj.Delete(m.cfg.policy, d, at, rd.reg, rd.set)
}

func (m *model) add(r *replica, members [][]byte) {
	m.tb.Helper()
	at := r.clock.Now()
	d := m.mint(r)
	// The add replaces the member's adds r holds, all of which r has seen.
	m.record(r, &event{kind: opAdd, dot: d, ts: at, members: members}, r.known)
	r.obj.SetAdd(d, at, members)
}

func (m *model) remove(r *replica, members [][]byte, rd *read) {
	m.tb.Helper()
	m.record(r, &event{kind: opRemove, members: members}, rd.known)
	r.obj.SetRemove(members, rd.set)
}

// merge carries src's object to dst: dst's clock moves past it, then the
// objects merge. Skews stay below the maximum offset, so no object is ever
// refused.
func (m *model) merge(dst, src *replica) {
	m.tb.Helper()
	if err := dst.clock.Update(src.obj.MaxTimestamp()); err != nil {
		m.tb.Fatalf("replica %d refused the object of replica %d: %v", dst.id, src.id, err)
	}
	before := src.obj.Marshal()
	dst.obj = conflict.Merge(m.cfg.policy, dst.obj, src.obj)
	if !bytes.Equal(before, src.obj.Marshal()) {
		m.tb.Fatalf("Merge changed its source")
	}
	dst.known.unite(src.known)
}

func (m *model) after(r *replica) {
	m.tb.Helper()
	if m.cfg.snapshots {
		m.states = append(m.states, r.obj.Clone())
	}
	m.checkReplica(r, m.cfg.check)
}

// run takes n steps.
func (m *model) run(c chooser, n int) {
	m.tb.Helper()
	for range n {
		m.step(c)
	}
}

// converge merges around the ring twice so that every replica holds
// everything, and checks that they hold identical bytes.
func (m *model) converge() *conflict.Object {
	m.tb.Helper()
	n := len(m.reps)
	for i := 1; i < 2*n; i++ {
		m.merge(m.reps[i%n], m.reps[(i-1)%n])
	}
	want := m.reps[0].obj.Marshal()
	for _, r := range m.reps {
		if !bytes.Equal(r.obj.Marshal(), want) {
			m.tb.Fatalf("replicas differ after convergence:\n  r0: %s\n  r%d: %s", dump(m.reps[0].obj), r.id, dump(r.obj))
		}
		m.checkReplica(r, m.cfg.check)
	}
	return m.reps[0].obj
}

func (m *model) objects() []*conflict.Object {
	out := make([]*conflict.Object, len(m.reps))
	for i, r := range m.reps {
		out[i] = r.obj
	}
	return out
}

func (m *model) history() string {
	var b bytes.Buffer
	for _, e := range m.events {
		fmt.Fprintf(&b, "\n    %v", e)
	}
	return b.String()
}

// randomModel builds a model of 3 or 4 replicas with random skews and
// actors drawn from rng.
func randomModel(tb testing.TB, rng *rand.Rand, cfg modelConfig) *model {
	tb.Helper()
	cfg.skews = randomSkews(rng, 3+rng.IntN(2))
	return newModel(tb, cfg, rng.Uint64)
}
