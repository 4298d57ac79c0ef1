package cluster

import (
	"cmp"
	"maps"
	"slices"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

// Entry is one node in the member table.
//
// Entries of the same id merge by a total order, the newer one winning:
//
//  1. a Removed entry beats any other (Removed is final);
//  2. then the higher Version;
//  3. then the later state: Removed > Left > Leaving > Normal > Joining;
//  4. then bytewise on GRPCAddr, then GossipAddr, then PeerAddr, then
//     RESPAddr, then VNodes, then TokensOf.
//
// Merging keeps the maximum, so it is commutative, associative and
// idempotent: nodes that saw the same entries hold the same table, in
// whatever order and with whatever duplication gossip delivered them. Only
// the node itself bumps its entry's Version (on a state, address or vnodes
// change); an operator's Remove bumps another node's entry to Removed.
type Entry struct {
	// ID is the node id.
	ID string
	// GRPCAddr is the node's client gRPC address (host:port) as other
	// machines reach it (its advertised address).
	GRPCAddr string
	// GossipAddr is the node's memberlist address (host:port) as other
	// machines reach it (its advertised address).
	GossipAddr string
	// PeerAddr is the node's peer gRPC address (host:port), which serves
	// node-to-node traffic; empty in entries of nodes that announced none
	// (older data), whose peers dial GRPCAddr instead (see DialAddr).
	PeerAddr string
	// RESPAddr is the node's advertised RESP (Redis protocol) address
	// (host:port); empty when it serves none, and in entries written
	// before it was published.
	RESPAddr string
	// VNodes is the node's ring weight.
	VNodes int
	// TokensOf is the id whose ring tokens the node owns: set on a node
	// that replaced another (Config.Replace), to the replaced entry's
	// token seed (its TokensOf, or its id), so the node replicates exactly
	// the partitions the replaced one did. Empty: the node's own id. It
	// never changes for an id.
	TokensOf string
	// State is the node's ring state.
	State ring.State
	// Version increases with every change of the entry.
	Version uint64
}

// DialAddr is the address other nodes reach this one at for node-to-node
// RPCs: PeerAddr, or GRPCAddr for an entry without one.
func (e Entry) DialAddr() string {
	if e.PeerAddr != "" {
		return e.PeerAddr
	}
	return e.GRPCAddr
}

// stateRank orders ring states for the merge tie-break.
func stateRank(s ring.State) int {
	switch s {
	case ring.Joining:
		return 1
	case ring.Normal:
		return 2
	case ring.Leaving:
		return 3
	case ring.Left:
		return 4
	case ring.Removed:
		return 5
	}
	return 0
}

// compareEntries orders two entries of the same id by the merge order: a
// positive result means a is newer than b, zero that they are identical.
func compareEntries(a, b Entry) int {
	ra, rb := a.State == ring.Removed, b.State == ring.Removed
	if ra != rb {
		if ra {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.Version, b.Version); c != 0 {
		return c
	}
	if c := cmp.Compare(stateRank(a.State), stateRank(b.State)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.GRPCAddr, b.GRPCAddr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.GossipAddr, b.GossipAddr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.PeerAddr, b.PeerAddr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.RESPAddr, b.RESPAddr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.VNodes, b.VNodes); c != 0 {
		return c
	}
	return cmp.Compare(a.TokensOf, b.TokensOf)
}

// tokenSeed is the id e's ring tokens derive from: TokensOf, or its id.
func (e Entry) tokenSeed() string {
	if e.TokensOf != "" {
		return e.TokensOf
	}
	return e.ID
}

// valid reports whether e can be part of a table: an id, a defined state
// and a vnodes count the ring accepts for that state.
func (e Entry) valid() bool {
	if e.ID == "" || len(e.ID) > maxIDLen || stateRank(e.State) == 0 {
		return false
	}
	if len(e.TokensOf) > maxIDLen || e.TokensOf == e.ID {
		return false
	}
	if e.VNodes < 0 || e.VNodes > ring.MaxVNodes {
		return false
	}
	return e.VNodes > 0 || e.State == ring.Left || e.State == ring.Removed
}

// table is a member table: node id -> entry. Only Membership's mutex
// holder touches it.
type table map[string]Entry

// merge folds e into t and reports whether t changed. Invalid entries are
// ignored.
func (t table) merge(e Entry) bool {
	if !e.valid() {
		return false
	}
	cur, ok := t[e.ID]
	if ok && compareEntries(e, cur) <= 0 {
		return false
	}
	t[e.ID] = e
	return true
}

// mergeAll folds every entry of es into t and returns the ids that changed,
// in the order of es.
func (t table) mergeAll(es []Entry) []string {
	var changed []string
	for _, e := range es {
		if t.merge(e) {
			changed = append(changed, e.ID)
		}
	}
	return changed
}

// sorted returns t's entries sorted by id.
func (t table) sorted() []Entry {
	out := slices.Collect(maps.Values(t))
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// ringMembers returns t as the ring's member list.
func (t table) ringMembers() []ring.Member {
	out := make([]ring.Member, 0, len(t))
	for _, e := range t {
		out = append(out, ring.Member{ID: e.ID, TokensOf: e.TokensOf, VNodes: e.VNodes, State: e.State})
	}
	return out
}
