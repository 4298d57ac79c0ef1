package cluster

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/internal/lograte"
)

// phase is how far a Membership got towards being a member.
type phase int

const (
	// phaseAdopt: no settings yet; join the seeds until one hands them.
	phaseAdopt phase = iota
	// phaseLocate: settings known but no persisted table listing this node
	// (it lost it); join until a member of the cluster hands its table.
	phaseLocate
	// phaseJoined: settings known and this node is in the table.
	phaseJoined
)

// persistRetry is how long the persist loop waits before retrying a
// failed save.
const persistRetry = time.Second

// Membership is this node's view of the cluster: the replicated member
// table, the liveness memberlist reports, and the ring computed from the
// table. It is safe for concurrent use.
//
// New starts it: memberlist, the join/reconnect loop and the persist loop
// run until Close.
type Membership struct {
	cfg    Config
	store  TableStore
	log    *slog.Logger
	holder *ring.Holder
	// logLimit rate-limits repeated lines about a peer.
	logLimit *lograte.Limiter
	// hearing tells suspect peers from alive ones (memberlist hides it).
	hearing *hearing
	seeds   []string // cfg.Seeds without this node's own address
	bcast   *memberlist.TransmitLimitedQueue
	// keyring holds the gossip keys; nil: gossip is not encrypted.
	keyring *memberlist.Keyring
	// keyMu serializes keyring changes and their persisting.
	keyMu sync.Mutex
	ml    atomic.Pointer[memberlist.Memberlist]
	// removed holds the ids the table marks Removed, for NotifyAlive, which
	// memberlist calls under its node lock and so must not take mu.
	removed atomic.Pointer[map[string]bool]
	// claimedBy is the gossip address of a live process seen under this
	// node's id before it joined (see delegate.NotifyMerge).
	claimedBy atomic.Pointer[string]

	// adoptMu serializes tryJoin: settings are adopted at most once.
	adoptMu sync.Mutex

	mu       sync.Mutex
	phase    phase
	settings *Settings // nil in phaseAdopt
	table    table     // empty until joined (persisted entries in phaseLocate)
	self     Entry     // what this node asserts about itself
	fatal    error     // permanent error; set at most once
	closing  bool      // Close started: gossip is ignored from now on
	gen      uint64    // table changes so far
	savedGen uint64    // table changes covered by the last successful save
	saveErr  error     // outcome of the last save

	persistc chan struct{} // cap 1: the table changed
	saveMu   sync.Mutex    // held by save: saves never overlap
	errc     chan error    // cap 1: the permanent error
	haltc    chan struct{} // closed with the permanent error
	stopc    chan struct{} // closed by Close
	// ctx is cancelled by Close; Join calls run under it.
	ctx    context.Context
	cancel context.CancelFunc

	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, loads the persisted table from store and starts the
// membership: it creates memberlist (listening on cfg.GossipAddr or
// cfg.Transport) and starts its goroutines; Close stops them.
//
// settings are the cluster's settings as persisted by the node, or nil for
// a node that has not joined a cluster yet (then cfg.AdoptSettings and at
// least one seed are required). With settings and a persisted table that
// lists this node, the node keeps its entry and is joined at once; with
// settings, no persisted table and no seeds, it bootstraps a cluster of one
// and is Normal.
//
// New returns a *RemovedError when the persisted table says this node was
// removed.
func New(cfg Config, settings *Settings, store TableStore) (_ *Membership, err error) {
	defer func() {
		if err != nil && cfg.Transport != nil {
			_ = cfg.Transport.Shutdown()
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("%w: no TableStore", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	if settings != nil {
		if err := settings.Validate(); err != nil {
			return nil, err
		}
		s := settings.clone()
		settings = &s
	} else if cfg.AdoptSettings == nil || cfg.Join == nil {
		return nil, fmt.Errorf("%w: AdoptSettings and Join are required for a node without settings", ErrInvalidConfig)
	}
	m := &Membership{
		cfg:      cfg,
		store:    store,
		log:      cfg.Logger.With("node", cfg.NodeID),
		logLimit: lograte.New(lograte.DefaultInterval, cfg.Wall),
		holder:   ring.NewHolder(nil),
		hearing:  newHearing(cfg.ProbeInterval, cfg.ProbeTimeout, time.Now),
		table:    table{},
		persistc: make(chan struct{}, 1),
		errc:     make(chan error, 1),
		haltc:    make(chan struct{}),
		stopc:    make(chan struct{}),
		cancel:   func() {},
		self: Entry{
			ID:         cfg.NodeID,
			GRPCAddr:   cfg.GRPCAddr,
			GossipAddr: cfg.GossipAddr,
			PeerAddr:   cfg.PeerAddr,
			RESPAddr:   cfg.RESPAddr,
			VNodes:     cfg.VNodes,
			State:      ring.Joining,
		},
	}
	for _, s := range cfg.Seeds {
		if !sameAddr(s, cfg.GossipAddr) && !sameAddr(s, cfg.gossipBind()) {
			m.seeds = append(m.seeds, s)
		}
	}
	if err := m.load(settings); err != nil {
		return nil, err
	}
	if m.cfg.Replace != "" && len(m.seeds) == 0 {
		return nil, fmt.Errorf("%w: node %q replaces %q but has no seed to join other than itself", ErrInvalidConfig, cfg.NodeID, cfg.Replace)
	}
	if m.phase == phaseAdopt && len(m.seeds) == 0 {
		return nil, fmt.Errorf("%w: node %q has no settings and no seed to join other than itself", ErrInvalidConfig, cfg.NodeID)
	}
	m.bcast = &memberlist.TransmitLimitedQueue{
		NumNodes: func() int {
			if ml := m.ml.Load(); ml != nil {
				return ml.NumMembers()
			}
			return 1
		},
		RetransmitMult: memberlist.DefaultLANConfig().RetransmitMult,
	}
	if m.keyring, err = newKeyring(cfg.GossipKeys); err != nil {
		return nil, err
	}
	mc, err := m.memberlistConfig()
	if err != nil {
		return nil, err
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: starting memberlist on %s: %w", cfg.GossipAddr, err)
	}
	m.ml.Store(ml)
	m.ctx, m.cancel = context.WithCancel(context.Background())

	m.mu.Lock()
	if m.phase == phaseJoined {
		m.changedLocked(nil) // publish the ring, save a bumped entry
		m.broadcastLocked(m.self.ID)
	}
	m.mu.Unlock()

	m.wg.Add(2)
	go m.runLoop()
	go m.persistLoop()
	return m, nil
}

// load sets the starting phase, table and own entry from settings and the
// persisted table. It runs before any goroutine starts.
func (m *Membership) load(settings *Settings) error {
	if settings == nil {
		m.phase = phaseAdopt
		return nil
	}
	m.settings = settings
	b, err := m.store.LoadMembers()
	if err != nil {
		return fmt.Errorf("cluster: loading the member table: %w", err)
	}
	if len(b) > 0 {
		if m.table, err = decodeTable(b); err != nil {
			return err
		}
	}
	id := m.cfg.NodeID
	e, ok := m.table[id]
	switch {
	case ok && e.State == ring.Removed:
		return &RemovedError{ID: id}
	case ok && e.State == ring.Left:
		return fmt.Errorf("%w (kvctl leave): %q joins again only as a new node, started with an empty data dir", ErrLeft, id)
	case ok && m.downTooLong():
		return fmt.Errorf("%w: %q last ran at %s, %s ago, more than --tombstone-grace %s: tombstones it missed may be purged, so it joins again only as a new node, started with an empty data dir",
			ErrDownTooLong, id, m.cfg.LastRunning.UTC().Format(time.RFC3339), time.Since(m.cfg.LastRunning).Round(time.Second), m.cfg.MaxDowntime)
	case ok:
		// Restart with our table: keep our place, announce any new
		// address or weight under a new version.
		if err := m.checkReplaceRestart(e); err != nil {
			return err
		}
		m.self.State, m.self.Version, m.self.TokensOf = e.State, e.Version, e.TokensOf
		if e != m.self {
			m.self.Version++
			m.table[id] = m.self
			m.log.Info("member entry changed since last run", "grpc_addr", m.self.GRPCAddr, "peer_addr", m.self.PeerAddr,
				"gossip_addr", m.self.GossipAddr, "resp_addr", m.self.RESPAddr, "vnodes", m.self.VNodes)
		}
		m.phase = phaseJoined
	case len(m.table) == 0 && len(m.seeds) == 0:
		// Bootstrap: the first member of a new cluster holds all there is.
		m.self.State, m.self.Version = ring.Normal, 1
		m.table[id] = m.self
		m.phase = phaseJoined
		m.log.Info("bootstrapped a new cluster")
	default:
		m.phase = phaseLocate
		m.log.Warn("settings but no persisted member entry: waiting for a member to tell this node its place")
	}
	return nil
}

// downTooLong reports whether this node was down longer than
// cfg.MaxDowntime while the cluster had another member that may hold its
// partitions (a cluster of one has nobody to bring anything back to).
func (m *Membership) downTooLong() bool {
	if m.cfg.MaxDowntime <= 0 || m.cfg.LastRunning.IsZero() || time.Since(m.cfg.LastRunning) <= m.cfg.MaxDowntime {
		return false
	}
	for id, e := range m.table {
		if id != m.cfg.NodeID && (e.State == ring.Joining || e.State == ring.Normal || e.State == ring.Leaving) {
			return true
		}
	}
	return false
}

// memberlistConfig builds memberlist's configuration from m.cfg.
func (m *Membership) memberlistConfig() (*memberlist.Config, error) {
	c := memberlist.DefaultLANConfig()
	c.Name = m.cfg.NodeID
	c.Label = m.cfg.ClusterName
	// Validate has checked both addresses.
	_, bindPortStr, _ := net.SplitHostPort(m.cfg.gossipBind())
	bindPort, _ := strconv.Atoi(bindPortStr)
	_, advPortStr, _ := net.SplitHostPort(m.cfg.GossipAddr)
	advPort, _ := strconv.Atoi(advPortStr)
	if m.cfg.Transport != nil {
		c.Transport = m.cfg.Transport
		advPort = bindPort // the transport advertises what it binds
	} else {
		bind, err := net.ResolveUDPAddr("udp", m.cfg.gossipBind())
		if err != nil {
			return nil, fmt.Errorf("cluster: resolving GossipBindAddr %s: %w", m.cfg.gossipBind(), err)
		}
		adv, err := net.ResolveUDPAddr("udp", m.cfg.GossipAddr)
		if err != nil {
			return nil, fmt.Errorf("cluster: resolving GossipAddr %s: %w", m.cfg.GossipAddr, err)
		}
		c.BindAddr, c.AdvertiseAddr = "0.0.0.0", adv.IP.String()
		if bind.IP != nil {
			c.BindAddr = bind.IP.String()
		}
	}
	c.BindPort, c.AdvertisePort = bindPort, advPort
	if m.keyring != nil {
		c.Keyring = m.keyring
		c.GossipVerifyIncoming = true
		c.GossipVerifyOutgoing = true
	}
	c.ProbeInterval = m.cfg.ProbeInterval
	c.ProbeTimeout = m.cfg.ProbeTimeout
	c.SuspicionMult = m.cfg.SuspicionMult
	c.GossipInterval = m.cfg.GossipInterval
	c.GossipToTheDeadTime = m.cfg.GossipToTheDeadTime
	c.PushPullInterval = m.cfg.PushPullInterval
	c.TCPTimeout = m.cfg.StreamTimeout
	// A node restarted on a new address may take its name back as soon as
	// memberlist considers the old incarnation dead.
	c.DeadNodeReclaimTime = time.Millisecond
	d := &delegate{m: m}
	c.Delegate = d
	c.Alive = d
	c.Merge = d
	c.Ping = d // clock samples and hearing
	c.Events = hearingDelegate{m.hearing}
	c.Logger = log.New(&logWriter{log: m.log, limit: m.logLimit, clusterName: m.cfg.ClusterName}, "", 0)
	return c, nil
}

// leaveTimeout bounds how long a node that left the ring waits for its
// memberlist leave message to be sent as it closes.
const leaveTimeout = time.Second

// Close stops gossip (memberlist Shutdown: a restart is not a leave, so no
// leave message is sent, except by a node that has left the ring, whose
// memberlist leave lets the others forget its address at once, so its id
// can join again, empty, right away), stops every goroutine Membership started, waits
// for them, and makes a last save of the table. It returns the error of
// that last save, if any. It is idempotent; later calls return the same
// result.
func (m *Membership) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closing = true
		left := m.self.State == ring.Left
		m.mu.Unlock()
		close(m.stopc)
		m.cancel()
		var errs []error
		if ml := m.ml.Load(); ml != nil {
			if left {
				if err := ml.Leave(leaveTimeout); err != nil {
					m.log.Warn("announcing the leave to memberlist", "err", err)
				}
			}
			if err := ml.Shutdown(); err != nil {
				errs = append(errs, fmt.Errorf("cluster: stopping memberlist: %w", err))
			}
		}
		m.wg.Wait()
		m.mu.Lock()
		if m.saveErr != nil {
			errs = append(errs, m.saveErr)
		}
		m.mu.Unlock()
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// Joined reports whether this node is a member: it has the cluster's
// settings and its entry is in the table. It is false before the first
// seed answered, and after the node learned it was removed.
func (m *Membership) Joined() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.phase == phaseJoined && m.fatal == nil
}

// Settings returns a copy of the cluster's settings, and false while the
// node has none yet.
func (m *Membership) Settings() (Settings, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.settings == nil {
		return Settings{}, false
	}
	return m.settings.clone(), true
}

// Self returns this node's own entry. Before the node has joined, it is
// the entry it will announce: Joining, version 0.
func (m *Membership) Self() Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self
}

// Ring returns the holder of the ring computed from the member table. It
// holds nil until the node has joined, then a new ring after every table
// change that affects it; Subscribe to follow it.
func (m *Membership) Ring() *ring.Holder { return m.holder }

// Err returns a channel that receives the permanent error that stopped the
// membership, at most once: a *RemovedError when this node's id was
// removed from the cluster, or an error wrapping ErrSettingsRefused when
// AdoptSettings refused the cluster's settings. After it, the node no
// longer gossips or joins; its owner should Close it. The channel is never
// closed.
func (m *Membership) Err() <-chan error { return m.errc }

// SetState changes this node's ring state and announces it. Only
// joining->normal, normal->leaving and leaving->left are legal (others wrap
// ErrIllegalTransition); setting the current state again is a no-op. It
// fails with ErrNotJoined before the node has joined. It returns once the
// table holding the new state is durable, so a state acknowledged (kvctl
// leave answered) survives a crash; an error saving it is returned, and
// the save is retried in the background.
func (m *Membership) SetState(s ring.State) error {
	if err := m.setState(s); err != nil {
		return err
	}
	return m.save() // also when unchanged: a failed save is tried again
}

// setState is SetState but for the save.
func (m *Membership) setState(s ring.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usableLocked(); err != nil {
		return err
	}
	cur := m.self.State
	if s == cur {
		return nil
	}
	legal := (cur == ring.Joining && s == ring.Normal) ||
		(cur == ring.Normal && s == ring.Leaving) ||
		(cur == ring.Leaving && s == ring.Left)
	if !legal {
		return fmt.Errorf("%w: %v -> %v", ErrIllegalTransition, cur, s)
	}
	m.self.State = s
	m.self.Version = max(m.self.Version, m.table[m.self.ID].Version) + 1
	m.table[m.self.ID] = m.self
	m.log.Info("ring state changed", "from", cur.String(), "to", s.String(), "version", m.self.Version)
	m.changedLocked([]string{m.self.ID})
	return nil
}

// Remove marks member id Removed, for good: its partitions go to the
// remaining members and the id is refused from then on. It refuses this
// node itself (ErrRemoveSelf), an id not in the table (ErrUnknownMember)
// and a member memberlist considers alive or suspect (ErrMemberAlive).
// Removing a removed member again is a no-op. Like SetState, it returns
// once the table holding the removal is durable.
func (m *Membership) Remove(id string) error {
	if err := m.remove(id); err != nil {
		return err
	}
	return m.save() // also when unchanged: a failed save is tried again
}

// remove is Remove but for the save.
func (m *Membership) remove(id string) error {
	live := m.liveSet() // before mu: memberlist's lock is taken first elsewhere
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usableLocked(); err != nil {
		return err
	}
	if id == m.self.ID {
		return fmt.Errorf("%w (%q)", ErrRemoveSelf, id)
	}
	e, ok := m.table[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownMember, id)
	}
	if e.State == ring.Removed {
		return nil
	}
	if live[id] {
		return fmt.Errorf("%w: %q is alive; only a dead node can be removed", ErrMemberAlive, id)
	}
	e.State = ring.Removed
	e.Version++
	m.table[id] = e
	m.log.Info("member removed", "id", id, "version", e.Version)
	m.changedLocked([]string{id})
	return nil
}

// usableLocked reports why the table cannot be changed now, if it cannot.
func (m *Membership) usableLocked() error {
	switch {
	case m.fatal != nil:
		return m.fatal
	case m.closing:
		return ErrClosed
	case m.phase != phaseJoined:
		return ErrNotJoined
	}
	return nil
}

// failLocked records the permanent error err, reports it on Err and halts
// gossip. Later calls are ignored.
func (m *Membership) failLocked(err error) {
	if m.fatal != nil {
		return
	}
	m.fatal = err
	if errors.Is(err, ErrRestart) {
		m.log.Info("membership stopped to restart with the adopted settings", "reason", err)
	} else {
		m.log.Error("membership stopped", "err", err)
	}
	m.errc <- err // cap 1, only ever sent once
	close(m.haltc)
}

// changedLocked records that the table changed (ids changed, and possibly
// more): it publishes the new ring, schedules a save and broadcasts the
// changed entries.
func (m *Membership) changedLocked(ids []string) {
	m.gen++
	select {
	case m.persistc <- struct{}{}:
	default:
	}
	r, err := ring.New(m.table.ringMembers(), m.settings.ReplicationFactor, m.settings.Partitions)
	if err != nil {
		m.log.Error("member table gives no ring", "err", err)
	} else {
		m.holder.Store(r)
		m.checkShadowedLocked(r)
	}
	removed := map[string]bool{}
	for id, e := range m.table {
		if e.State == ring.Removed {
			removed[id] = true
		}
	}
	m.removed.Store(&removed)
	for _, id := range ids {
		m.broadcastLocked(id)
	}
}

// Announcing returns how many table changes are still queued for gossip
// broadcast; 0 once every change this node made or relayed has been sent
// to as many members as memberlist retransmits to.
func (m *Membership) Announcing() int { return m.bcast.NumQueued() }
