package cluster

// Liveness values of MemberStatus.Liveness.
const (
	// LivenessAlive: memberlist considers the node alive, or it is this
	// node.
	LivenessAlive = "alive"
	// LivenessSuspect: memberlist has not declared the node dead but has
	// stopped hearing from it: its direct probes of the node went
	// unanswered (see hearing). memberlist v0.7.0 does not publish its own
	// suspicion state, so this is measured beside it.
	LivenessSuspect = "suspect"
	// LivenessDead: memberlist considers the node dead or left, or does
	// not know it (it forgot it, or never reached it).
	LivenessDead = "dead"
)

// MemberStatus is a member entry with the node's liveness.
type MemberStatus struct {
	Entry
	// Liveness is LivenessAlive, LivenessSuspect or LivenessDead.
	Liveness string
}

// Members returns every entry of the member table, sorted by id, with
// each node's liveness. Before the node has joined, it returns this node's
// own entry only. The caller owns the returned slice.
func (m *Membership) Members() []MemberStatus {
	live := m.liveSet()
	m.mu.Lock()
	var es []Entry
	if m.phase == phaseJoined {
		es = m.table.sorted()
	} else {
		es = []Entry{m.self}
	}
	self := m.self.ID
	m.mu.Unlock()
	out := make([]MemberStatus, len(es))
	for i, e := range es {
		out[i] = MemberStatus{Entry: e, Liveness: m.livenessOf(e.ID, self, live)}
	}
	return out
}

// livenessOf returns the liveness of member id given memberlist's live
// set (which includes this node, self).
func (m *Membership) livenessOf(id, self string, live map[string]bool) string {
	switch {
	case id == self:
		return LivenessAlive
	case !live[id]:
		return LivenessDead
	case m.hearing.suspect(id, len(live)-1):
		return LivenessSuspect
	}
	return LivenessAlive
}

// AliveCount returns how many members memberlist has not declared dead
// (alive or suspect), this node included.
func (m *Membership) AliveCount() int {
	n := 0
	for _, s := range m.Members() {
		if s.Liveness != LivenessDead {
			n++
		}
	}
	return n
}

// liveSet returns the names of the nodes memberlist considers alive or
// suspect. It does not take m.mu.
func (m *Membership) liveSet() map[string]bool {
	ml := m.ml.Load()
	if ml == nil {
		return nil
	}
	nodes := ml.Members()
	live := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		live[n.Name] = true
	}
	return live
}

// Member returns the entry of member id with its liveness, and whether the
// table has it. Before the node has joined it knows only itself. It does
// not copy or sort the table, so callers on the request path may use it.
func (m *Membership) Member(id string) (MemberStatus, bool) {
	m.mu.Lock()
	var (
		e  Entry
		ok bool
	)
	if m.phase == phaseJoined {
		e, ok = m.table[id]
	} else if id == m.self.ID {
		e, ok = m.self, true
	}
	self := m.self.ID
	m.mu.Unlock()
	if !ok {
		return MemberStatus{}, false
	}
	l := LivenessAlive
	if id != self {
		l = m.peerLiveness(id)
	}
	return MemberStatus{Entry: e, Liveness: l}, true
}

// peerLiveness returns the liveness of peer id without building the live
// set. It does not take m.mu.
func (m *Membership) peerLiveness(id string) string {
	ml := m.ml.Load()
	if ml == nil {
		return LivenessDead
	}
	nodes := ml.Members()
	for _, n := range nodes {
		if n.Name == id {
			if m.hearing.suspect(id, len(nodes)-1) {
				return LivenessSuspect
			}
			return LivenessAlive
		}
	}
	return LivenessDead
}
