package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

// delegate is Membership's side of memberlist: it carries the member table
// (memberlist.Delegate) and refuses removed ids (memberlist.AliveDelegate).
// memberlist calls it from its own goroutines, concurrently.
type delegate struct{ m *Membership }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.AliveDelegate = (*delegate)(nil)
	_ memberlist.MergeDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

// AckPayload is this node's wall time, sent with every probe ack, so the
// prober estimates this node's clock offset (DESIGN.md, Clocks).
func (d *delegate) AckPayload() []byte {
	wall := d.m.cfg.Wall
	if wall == nil {
		wall = time.Now
	}
	return binary.BigEndian.AppendUint64(nil, uint64(wall().UnixNano()))
}

// NotifyPingComplete records that a probed member answered (see
// hearing) and hands Config.OnPeerClock the wall time its ack carried and
// the probe's round trip.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	if other != nil {
		d.m.hearing.ack(other.Name) // the probe was answered: other is heard
	}
	if d.m.cfg.OnPeerClock == nil || other == nil || len(payload) != 8 || other.Name == d.m.cfg.NodeID {
		return
	}
	wall := d.m.cfg.Wall
	if wall == nil {
		wall = time.Now
	}
	recv := wall()
	d.m.cfg.OnPeerClock(other.Name, time.Unix(0, int64(binary.BigEndian.Uint64(payload))), recv.Add(-rtt), recv)
}

// NodeMeta returns this node's id and advertised gRPC and peer addresses.
func (d *delegate) NodeMeta(limit int) []byte {
	b := nodeMeta(d.m.cfg.NodeID, d.m.cfg.GRPCAddr, d.m.cfg.PeerAddr)
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg merges a broadcast: a GossipState with the entries that
// changed.
func (d *delegate) NotifyMsg(b []byte) {
	g, err := decodeGossip(b)
	if err != nil {
		d.m.log.Debug("ignoring undecodable gossip message", "err", err)
		return
	}
	d.m.mergeGossip(g, "broadcast")
}

// GetBroadcasts hands memberlist the queued entry broadcasts.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.m.bcast.GetBroadcasts(overhead, limit)
}

// LocalState returns the whole table. It never carries the settings or
// the secret: a node without them gets them through Join. A node that has
// not joined sends nothing.
func (d *delegate) LocalState(bool) []byte {
	m := d.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phase != phaseJoined || m.fatal != nil || m.closing {
		return nil
	}
	return encodeGossip(m.settings.ClusterID, m.table.sorted())
}

// MergeRemoteState merges the table of a push/pull peer; for a join, a node
// that knows the settings but not its place (phaseLocate) takes its place
// in the table it carries. A node without settings ignores it: it adopts
// settings and table through Join.
func (d *delegate) MergeRemoteState(b []byte, join bool) {
	m := d.m
	g, err := decodeGossip(b)
	if err != nil {
		m.log.Debug("ignoring undecodable gossip state", "err", err)
		return
	}
	m.mu.Lock()
	ph := m.phase
	m.mu.Unlock()
	if ph != phaseJoined && join && m.refuseIfDuplicate(g.entries) {
		return
	}
	switch {
	case ph == phaseJoined:
		m.mergeGossip(g, "push/pull")
	case ph == phaseLocate && join:
		g.entries = m.screenUnauthenticated(g.entries, "push/pull join")
		m.tryJoin(g)
	}
}

// NotifyAlive refuses removed ids as memberlist peers. memberlist calls it
// holding its node lock, so it reads an atomic snapshot rather than taking
// Membership's mutex (which is held while calling into memberlist).
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	if peer.Name == d.m.cfg.NodeID {
		return nil
	}
	if r := d.m.removed.Load(); r != nil && (*r)[peer.Name] {
		return fmt.Errorf("node id %q was removed from the cluster", peer.Name)
	}
	return nil
}

// NotifyMerge checks the members a push/pull peer knows before memberlist
// merges them: one alive under this node's id but at another address may
// be another process running under the id. A joined node refuses the
// peer's state and stays (the newcomer will fail). A node that has not
// joined yet records the address; tryJoin refuses to join if the member
// table lists the id at that address (a process that never made it into
// the table, such as a joiner refused for its settings, does not count).
// memberlist calls it without its node lock held.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	m := d.m
	ml := m.ml.Load()
	if ml == nil {
		return nil
	}
	local := ml.LocalNode()
	for _, p := range peers {
		if p.Name != m.cfg.NodeID || p.State != memberlist.StateAlive ||
			(p.Addr.Equal(local.Addr) && p.Port == local.Port) {
			continue
		}
		m.mu.Lock()
		joined := m.phase == phaseJoined
		m.mu.Unlock()
		if !joined {
			addr := p.Address()
			m.claimedBy.Store(&addr)
			return nil
		}
		m.log.Warn("another process claims this node's id; refusing its state", "addr", p.Address())
		return &DuplicateIDError{ID: m.cfg.NodeID, Addr: p.Address()}
	}
	return nil
}

// entryBroadcast is one entry's broadcast; a newer one for the same id
// replaces it in the queue.
type entryBroadcast struct {
	id  string
	msg []byte
}

var _ memberlist.NamedBroadcast = (*entryBroadcast)(nil)

func (b *entryBroadcast) Invalidates(other memberlist.Broadcast) bool {
	nb, ok := other.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.id
}
func (b *entryBroadcast) Message() []byte { return b.msg }
func (b *entryBroadcast) Finished()       {}
func (b *entryBroadcast) Name() string    { return b.id }

// broadcastLocked queues the current entry of id for broadcast.
func (m *Membership) broadcastLocked(id string) {
	e, ok := m.table[id]
	if !ok || m.settings == nil {
		return
	}
	m.bcast.QueueBroadcast(&entryBroadcast{id: id, msg: encodeGossip(m.settings.ClusterID, []Entry{e})})
}

// mergeGossip merges entries received from a member of our cluster into
// the table and re-broadcasts those that were news.
func (m *Membership) mergeGossip(g gossip, via string) {
	g.entries = m.screenUnauthenticated(g.entries, via)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phase != phaseJoined || m.fatal != nil || m.closing {
		return
	}
	if !bytes.Equal(g.clusterID, m.settings.ClusterID[:]) {
		m.log.Debug("ignoring gossip from another cluster", "via", via, "cluster_id", fmt.Sprintf("%x", g.clusterID))
		return
	}
	changed := m.table.mergeAll(g.entries)
	if len(changed) == 0 {
		return
	}
	if !m.reconcileSelfLocked(&changed) {
		m.changedLocked(nil) // save the Removed entry, announce nothing
		return
	}
	m.changedLocked(changed)
}

// reconcileSelfLocked checks our own entry after a merge. A Removed entry
// is a permanent error (it returns false). Otherwise, if the table's entry
// disagrees with what this node is (a stale state or address from before a
// restart whose bump was not saved), it asserts itself under a higher
// version and adds its id to changed.
func (m *Membership) reconcileSelfLocked(changed *[]string) bool {
	id := m.self.ID
	e, ok := m.table[id]
	switch {
	case ok && e.State == ring.Removed:
		m.failLocked(&RemovedError{ID: id})
		return false
	case !ok:
		return true
	}
	want := m.self
	want.Version = e.Version
	if e == want {
		m.self.Version = e.Version
		return true
	}
	m.self.Version = max(m.self.Version, e.Version) + 1
	m.table[id] = m.self
	m.log.Info("re-asserting own member entry", "seen_state", e.State.String(), "state", m.self.State.String(), "version", m.self.Version)
	*changed = append(*changed, id)
	return true
}

// tryJoin handles what a member sent while this node has not joined (a
// Join answer, or the state of a push/pull join in phaseLocate): adopt
// the settings if it has none, then take its place in the member's table.
func (m *Membership) tryJoin(g gossip) {
	m.adoptMu.Lock()
	defer m.adoptMu.Unlock()
	id := m.cfg.NodeID

	m.mu.Lock()
	if m.phase == phaseJoined || m.fatal != nil || m.closing {
		m.mu.Unlock()
		return
	}
	settings := m.settings
	m.mu.Unlock()

	if len(g.entries) == 0 {
		return // the peer has not joined either
	}
	if m.refuseIfDuplicate(g.entries) {
		return
	}
	if settings == nil {
		if removedIn(g.entries, id) {
			m.mu.Lock()
			m.failLocked(&RemovedError{ID: id})
			m.mu.Unlock()
			return
		}
		if g.settings == nil {
			return
		}
		s, err := settingsFromProto(g.settings, g.secret)
		if err != nil {
			m.log.Warn("a seed offered unusable settings", "err", err)
			return
		}
		if !bytes.Equal(g.clusterID, s.ClusterID[:]) {
			return
		}
		if err := m.cfg.AdoptSettings(s.clone()); err != nil {
			if !errors.Is(err, ErrRestart) {
				err = fmt.Errorf("%w: %w", ErrSettingsRefused, err)
			}
			m.mu.Lock()
			m.failLocked(err)
			m.mu.Unlock()
			return
		}
		m.log.Info("adopted the cluster's settings", "cluster_id", fmt.Sprintf("%x", s.ClusterID),
			"replication_factor", s.ReplicationFactor, "partitions", s.Partitions, "conflict", s.Conflict)
		m.mu.Lock()
		m.settings = &s
		m.phase = phaseLocate
		m.mu.Unlock()
		settings = &s
	}
	if !bytes.Equal(g.clusterID, settings.ClusterID[:]) {
		m.log.Debug("ignoring a join answer from another cluster", "cluster_id", fmt.Sprintf("%x", g.clusterID))
		return
	}

	// The table is not published before we have joined, so merging into
	// it now is invisible until the end.
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		return
	}
	m.table.mergeAll(g.entries)
	prev, known := m.table[id]
	if known && prev.State == ring.Removed {
		m.failLocked(&RemovedError{ID: id})
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()

	var replacing []string
	if m.cfg.Replace != "" {
		live := m.liveSet() // before mu, as in Remove
		m.mu.Lock()
		var err error
		if replacing, err = m.replaceLocked(live); err != nil {
			m.failLocked(err)
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
	}

	if known {
		// Our id is in the table but we had no table: this node lost its
		// data. It renews its actor before it takes part.
		m.log.Warn("this node id is already a member but its state was lost: joining again",
			"previous_state", prev.State.String(), "previous_version", prev.Version)
		if m.cfg.OnStateLoss != nil {
			m.cfg.OnStateLoss()
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing || m.fatal != nil {
		return
	}
	m.self.State = ring.Joining
	m.self.Version = 1
	if e, ok := m.table[id]; ok {
		m.self.Version = e.Version + 1
		// An id's tokens never change: a replacer that lost its data
		// keeps the tokens it took.
		m.self.TokensOf = e.TokensOf
	}
	m.table[id] = m.self
	m.phase = phaseJoined
	if m.self.TokensOf != "" {
		m.log.Info("joined the cluster in another member's place", "replaces", m.cfg.Replace, "tokens_of", m.self.TokensOf,
			"state", m.self.State.String(), "version", m.self.Version, "members", len(m.table))
	} else {
		m.log.Info("joined the cluster", "state", m.self.State.String(), "version", m.self.Version, "members", len(m.table))
	}
	m.changedLocked(append(replacing, id))
}

// refuseIfDuplicate fails the membership with a *DuplicateIDError, and
// reports true, when a live process was seen under this node's id
// (NotifyMerge) at the gossip address the member table es gives the id:
// this node, not joined yet, is the second one.
func (m *Membership) refuseIfDuplicate(es []Entry) bool {
	by := m.claimedBy.Load()
	if by == nil || !claimedIn(es, m.cfg.NodeID, *by) {
		return false
	}
	m.mu.Lock()
	m.failLocked(&DuplicateIDError{ID: m.cfg.NodeID, Addr: *by})
	m.mu.Unlock()
	return true
}

// claimedIn reports whether es lists member id at gossip address addr.
func claimedIn(es []Entry, id, addr string) bool {
	for _, e := range es {
		if e.ID == id && e.GossipAddr == addr && e.valid() {
			return true
		}
	}
	return false
}

func removedIn(es []Entry, id string) bool {
	for _, e := range es {
		if e.ID == id && e.State == ring.Removed && e.valid() {
			return true
		}
	}
	return false
}

// screenUnauthenticated drops, when gossip is not encrypted (and so
// anyone who can send a packet can forge it), the Removed entries a
// forger could use to take a live node out of the cluster: this node's
// own removal, and the removal of any member memberlist considers alive
// or suspect. The operator's Remove refuses live members, so a genuine
// removal is of a dead node and still spreads. With encrypted gossip,
// every message was sealed by a key holder and es is returned as is.
// Called without m.mu held.
//
// A node removed while it was down and restarted without a gossip key
// thus never learns it from gossip: it keeps running, refused by the
// members (NotifyAlive), and its own entry never outranks the removal.
func (m *Membership) screenUnauthenticated(es []Entry, via string) []Entry {
	if m.keyring != nil {
		return es
	}
	var live map[string]bool
	out := es[:0:0]
	for _, e := range es {
		if e.State == ring.Removed {
			if live == nil {
				live = m.liveSet()
			}
			if e.ID == m.cfg.NodeID || live[e.ID] {
				m.log.Warn("ignoring an unauthenticated removal of a live node from gossip (gossip is not encrypted: set --gossip-key-file)",
					"id", e.ID, "version", e.Version, "via", via)
				continue
			}
		}
		out = append(out, e)
	}
	return out
}
