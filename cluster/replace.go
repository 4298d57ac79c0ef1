package cluster

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

// A node started with Config.Replace takes the place of a removed or dead
// member: it joins owning the member's ring tokens (Entry.TokensOf), so
// the ring gives it exactly the partitions the member replicated, and is
// filled from their current replicas like any joiner. It marks a dead
// member removed itself, as kvctl remove would. Two live members never
// share a token seed: a second replacer is refused at join, and should
// two join at once, the ring counts one of them (ring.Member.TokensOf) and
// the other stops (checkShadowedLocked).

// replaceLocked checks, on the table t a joining node just merged, that
// this node may take the place of m.cfg.Replace, and prepares it: it sets
// m.self.TokensOf and, when the member is dead but not removed yet, marks
// it Removed in t. live is memberlist's live set, taken before m.mu. It
// returns the ids whose entries it changed, or a *ReplaceError.
func (m *Membership) replaceLocked(live map[string]bool) ([]string, error) {
	id, target := m.self.ID, m.cfg.Replace
	refuse := func(format string, args ...any) error {
		return &ReplaceError{Replace: target, Reason: fmt.Sprintf(format, args...)}
	}
	e, ok := m.table[target]
	switch {
	case !ok:
		return nil, refuse("no member %q in the cluster's member table", target)
	case e.State == ring.Left:
		return nil, refuse("%s left the cluster and handed its partitions over: start this node without --replace to join as a new member", target)
	case e.State != ring.Removed && live[target]:
		return nil, refuse("%s is alive or suspect; only a removed or dead node can be replaced: to decommission a live node, run kvctl leave on it", target)
	}
	seed := e.tokenSeed()
	if other := m.claimantLocked(seed, id, target); other != "" {
		return nil, refuse("its place is already taken: %s owns its ring tokens", other)
	}
	if prev, known := m.table[id]; known && prev.TokensOf != seed {
		return nil, refuse("node id %s is already a member of the cluster (%s); only a new node can take another's place", id, prev.State)
	}
	if e.VNodes > 0 && e.VNodes != m.self.VNodes {
		return nil, refuse("%s had %d vnodes and this node has %d: start it with --vnodes %d to own exactly its partitions",
			target, e.VNodes, m.self.VNodes, e.VNodes)
	}
	m.self.TokensOf = seed
	if e.State == ring.Removed {
		return nil, nil
	}
	e.State = ring.Removed
	e.Version++
	m.table[target] = e
	m.log.Info("marked the dead member this node replaces removed", "id", target, "version", e.Version)
	return []string{target}, nil
}

// claimantLocked returns the id of a member other than self and replaced
// that may still own the ring tokens of seed (it is not left or removed),
// or "" when there is none.
func (m *Membership) claimantLocked(seed, self, replaced string) string {
	for _, e := range m.table.sorted() {
		if e.ID == self || e.ID == replaced || e.State == ring.Left || e.State == ring.Removed {
			continue
		}
		if e.tokenSeed() == seed {
			return e.ID
		}
	}
	return ""
}

// checkReplaceRestart refuses a restart with Config.Replace of a node
// whose persisted entry e (it is a member already) does not own the
// replaced member's tokens: only a new node can replace. The node that
// did replace it may keep the flag.
func (m *Membership) checkReplaceRestart(e Entry) error {
	target := m.cfg.Replace
	if target == "" {
		return nil
	}
	if t, ok := m.table[target]; ok && e.TokensOf != "" && t.tokenSeed() == e.TokensOf {
		return nil
	}
	return &ReplaceError{Replace: target, Reason: fmt.Sprintf(
		"node id %s is already a member of the cluster (%s, with its own data dir); only a new node with an empty data dir can take another's place",
		e.ID, e.State)}
}

// checkShadowedLocked stops the membership when the ring r counts
// another member in place of this node because both own the same tokens:
// two nodes replaced the same member at once, and this one lost
// (ring.Member.TokensOf says which wins).
func (m *Membership) checkShadowedLocked(r *ring.Ring) {
	if m.phase != phaseJoined || m.fatal != nil || !slices.Contains(r.Shadowed(), m.self.ID) {
		return
	}
	seed := m.self.tokenSeed()
	other := m.claimantLocked(seed, m.self.ID, "")
	m.failLocked(&ReplaceError{Replace: cmp.Or(m.cfg.Replace, seed), Reason: fmt.Sprintf(
		"its place is already taken: %s owns the ring tokens of %s too and the ring counts it", other, seed)})
}
