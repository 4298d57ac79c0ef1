package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/antientropy"
	"github.com/quorumkv/quorumkv/resp"
	"github.com/quorumkv/quorumkv/security"
	"github.com/quorumkv/quorumkv/storage"
)

// node holds the wired components of a running server. newNode builds it,
// serve runs it, close tears it down.
type node struct {
	cfg       Config
	log       *slog.Logger
	store     *storage.Engine
	clock     *conflict.Clock
	fence     *replication.ClockFence
	dots      *conflict.DotIssuer
	coord     *replication.Coordinator
	transport *replication.GRPCTransport
	members   atomic.Pointer[cluster.Membership]
	limits    keyspace.Limits
	metrics   *metrics
	ready     atomic.Bool
	conns     *replication.PeerConns // the one pool of connections to peers
	wall      conflict.WallClock     // the one wall clock (--test-clock-offset applied): HLC, hints, grace, fence
	down      downTracker
	ae        *antientropy.AntiEntropy
	purger    *antientropy.Purger
	exchange  *replication.ExchangeServer
	fromPeers *antientropy.GraceStore
	settings  *cluster.Settings // as persisted at start; nil until adopted
	tls       *security.Files   // the node's certificate, key and CA; nil without --tls-*

	// peerAuth, when set (TLS on), checks that the caller of a peer RPC
	// such as Join presented a node certificate; nil without TLS (see
	// join.go for the trust rule).
	peerAuth func(context.Context) error

	lis            net.Listener // client gRPC
	grpcAddr       string       // the client gRPC address published in the member table (advertised)
	peerLis        net.Listener // peer gRPC (node-to-node)
	peerAddr       string       // the peer address published in the member table
	httpLis        net.Listener // metrics; nil without --metrics-addr
	srv            *grpc.Server // the client API on lis
	peerSrv        *grpc.Server // the Replica service and forwarded client calls on peerLis
	httpSrv        *http.Server // nil without --metrics-addr
	respLis        net.Listener // RESP; nil without --resp-addr
	respAdvertised string       // the RESP address published in the member table; "" without --resp-addr
	respSrv        *resp.Server // nil without --resp-addr

	closers   []func() // undone in reverse by close
	closeOnce sync.Once

	// Shutdown record (shutdown.go): markedRunning once this start has
	// cleared it; mustRenew while the last start was not followed by a
	// clean shutdown and the actor is not renewed yet (it is before
	// serving). fatalErr holds the first failed local durable write, which
	// serve's fatal receives: the node stops and records no clean shutdown.
	markedRunning bool
	// lastRunning is when the node last ran before this start (downtime.go),
	// zero if unknown.
	lastRunning time.Time
	// recordsRunning once the node serves and keeps the running record:
	// closing storage rewrites it a last time.
	recordsRunning atomic.Bool
	mustRenew      bool
	fatalErr       atomic.Pointer[error]
	fatal          chan error

	// left is closed once the node has left the cluster (kvctl leave) and
	// announced it: serve stops the node (ring_change.go).
	left     chan struct{}
	leftOnce sync.Once
	// moves is the progress of the ring change under way (moves.go).
	moves moveProgress
	// dropped holds the partitions the dropper dropped, until fillGained
	// has seen them: one gained back is filled again (drop.go).
	dropped droppedParts
	// handOffWaitSaid is the last list of pending replicas a hand-off
	// logged it waits for (leaveWhenLeaving's goroutine only).
	handOffWaitSaid []string

	// Readiness (ready.go): ready is true while serve runs and has not
	// started to drain; storageOpen from the data dir's open to its close.
	// health is the gRPC health service, kept in step with readiness;
	// draining is done once the node starts to drain (health watches end).
	storageOpen  atomic.Bool
	health       *health.Server
	draining     context.Context
	stopDraining context.CancelFunc
}

// hintInterval is how often hints are offered to live members.
const hintInterval = 2 * time.Second

// Run starts a node and serves until ctx is done, then stops taking
// requests, lets those in flight finish within cfg.ShutdownTimeout, and
// closes storage. It returns nil after a clean shutdown. Listening sockets
// are bound before Run logs "serving", so a caller may connect from then on.
//
// A joiner whose cluster's settings change what its components were built
// with (adopt) is rebuilt in process, with the settings it persisted.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	for {
		n, err := newNode(cfg, log)
		if err != nil {
			return err
		}
		err = n.serve(ctx)
		n.close()
		rebuild := errors.Is(err, errRebuild)
		if rebuild {
			err = nil // the settings are persisted: asked to stop meanwhile, the next start takes them
		}
		if !rebuild || ctx.Err() != nil {
			return err
		}
		log.Info("starting again with the cluster's settings")
	}
}

// newNode validates cfg and builds every component, binding the listeners
// but serving nothing yet. Each part pushes its closer as it is built, so
// a failure half-way closes what was built, in reverse.
func newNode(cfg Config, log *slog.Logger) (_ *node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &node{cfg: cfg, log: log, metrics: newMetrics(), fatal: make(chan error, 1), left: make(chan struct{}), limits: limitsOf(cfg)}
	n.draining, n.stopDraining = context.WithCancel(context.Background())
	n.onClose(n.stopDraining)
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	for _, build := range []func() error{n.openTLS, n.openStorage, n.openClock, n.listen, n.openReplication, n.openMembership, n.openServers} {
		if err := build(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// onClose pushes f on the stack close undoes.
func (n *node) onClose(f func()) { n.closers = append(n.closers, f) }

// close undoes newNode in reverse: every component is closed once, after
// those built on it. It is idempotent.
func (n *node) close() {
	n.closeOnce.Do(func() {
		for i := len(n.closers) - 1; i >= 0; i-- {
			n.closers[i]()
		}
		n.closers = nil
	})
}

// openStorage opens the data dir, checks that it belongs to this node,
// loads the cluster's settings (creating them for a new cluster), which
// the node then runs under (storage is opened again when they name
// another conflict policy than the flags), and records that the node runs
// (shutdown.go). Closing it records a clean shutdown, its last write.
func (n *node) openStorage() error {
	store, err := n.openEngine()
	if err != nil {
		return err
	}
	fresh, err := freshDataDir(store)
	var settings *cluster.Settings
	if err == nil {
		settings, err = n.loadIdentity(store)
	}
	if err == nil && settings != nil {
		run := withSettings(n.cfg, *settings)
		if run.Conflict != n.cfg.Conflict {
			n.log.Info("the cluster's conflict policy differs from --conflict's default: opening storage with it", "conflict", run.Conflict)
			err = store.Close()
			n.cfg = run
			if err == nil {
				store, err = n.openEngine()
			}
		}
		n.cfg, n.limits = run, limitsOf(run)
	}
	if err != nil {
		if store != nil {
			_ = store.Close() // the open error says what matters
		}
		return err
	}
	n.store, n.settings = store, settings
	n.storageOpen.Store(true)
	n.onClose(func() {
		n.storageOpen.Store(false)
		if n.recordsRunning.Load() {
			if err := recordRunning(store, time.Now()); err != nil {
				n.log.Warn("record that the node ran until now", "err", err)
			}
		}
		n.recordCleanShutdown(store)
		if err := store.Close(); err != nil {
			n.log.Error("close storage", "err", err)
		}
		n.log.Info("stopped")
	})
	n.metrics.watchStorage(store)
	if n.lastRunning, err = lastRunning(store); err != nil {
		return err
	}
	if n.mustRenew, err = markRunning(store, fresh); err != nil {
		return err
	}
	n.markedRunning = true
	return nil
}

// openEngine opens the storage engine with the node's conflict policy.
func (n *node) openEngine() (*storage.Engine, error) {
	scfg := storage.DefaultConfig()
	scfg.Dir = n.cfg.DataDir
	scfg.Policy = n.cfg.Conflict
	scfg.OnSync = n.metrics.observeCommit
	scfg.OnFlush = n.metrics.observeFlush
	scfg.Logger = n.log
	return storage.Open(scfg)
}

// loadIdentity checks the data dir's node id and cluster name and returns
// the cluster's settings (nil for a joiner that has none yet).
func (n *node) loadIdentity(store *storage.Engine) (*cluster.Settings, error) {
	if err := checkIdentity(n.cfg, store); err != nil {
		return nil, err
	}
	return loadSettings(n.cfg, store, n.log)
}

// openClock opens the dot issuer, with a new actor after an unclean
// shutdown, whose leases are persisted ahead by its refill goroutine (dots
// are minted inside storage transactions, so Next must never persist), and
// the hybrid logical clock.
func (n *node) openClock() error {
	dots, err := conflict.OpenDotIssuer(n.store, 0, nil)
	if err != nil {
		return err
	}
	n.dots = dots
	if err := n.renewIfUnclean(); err != nil {
		return err
	}
	wall := n.cfg.Wall
	if wall == nil {
		wall = time.Now
	}
	if off := n.cfg.TestClockOffset; off != 0 {
		base := wall
		wall = func() time.Time { return base().Add(off) }
		n.log.Warn("test knob: wall clock offset", "offset", off)
	}
	n.wall = wall
	n.down.now = wall.Now
	n.clock = conflict.NewClock(wall, n.cfg.MaxClockOffset)
	n.dots.StartRefill()
	n.onClose(n.dots.Close)
	return nil
}

// listen binds the client and peer gRPC listeners, the RESP listener
// and the metrics listener.
func (n *node) listen() error {
	lis, err := net.Listen("tcp", n.cfg.GRPCAddr)
	if err != nil {
		return flagErr("grpc-addr", "cannot listen on %s: %v", n.cfg.GRPCAddr, err)
	}
	n.lis, n.grpcAddr = lis, advertisedGRPCAddr(n.cfg, lis.Addr().String())
	n.onClose(func() { _ = lis.Close() }) // already closed once served
	peerBind := peerBindAddr(n.cfg)
	peerLis, err := net.Listen("tcp", peerBind)
	if err != nil {
		return flagErr("peer-addr", "cannot listen on %s: %v", peerBind, err)
	}
	n.peerLis, n.peerAddr = peerLis, advertisedPeerAddr(n.cfg, peerLis.Addr().String())
	n.onClose(func() { _ = peerLis.Close() }) // already closed once served
	if err := n.listenRESP(); err != nil {
		return err
	}
	if n.cfg.MetricsAddr == "" {
		return nil
	}
	if n.httpLis, err = net.Listen("tcp", n.cfg.MetricsAddr); err != nil {
		return flagErr("metrics-addr", "cannot listen on %s: %v", n.cfg.MetricsAddr, err)
	}
	n.onClose(func() { _ = n.httpLis.Close() })
	return nil
}

// openReplication builds the peer transport and pool and the coordinator.
// Until a node started with --join adopts its cluster's settings, it runs
// with the policy of its flags and a token secret of its own.
func (n *node) openReplication() error {
	initial, err := initialSettings(n.cfg, n.settings)
	if err != nil {
		return err
	}
	policy, keys, err := coordinatorCluster(initial)
	if err != nil {
		return err
	}
	n.fence, err = replication.NewClockFence(replication.ClockFenceConfig{NodeID: n.cfg.NodeID, MaxOffset: n.cfg.MaxClockOffset,
		Alive: n.alivePeers, Logger: n.log})
	if err != nil {
		return err
	}
	if n.conns, err = replication.NewPeerConns(replication.PeerConnsConfig{DialOptions: append(n.peerDialOptions(), n.metrics.components.clientDialOptions()...)}, replication.ResolverFunc(n.resolve)); err != nil {
		return err
	}
	n.onClose(func() { _ = n.conns.Close() }) // after every user of the pool; reports no error
	n.transport = replication.NewGRPCTransport(replication.GRPCTransportConfig{Clock: n.wall, OnPeerClock: n.fence.ObserveRoundTrip, OnMessage: n.metrics.components.observeReplicaMessage}, n.conns)
	n.onClose(func() {
		if err := n.transport.Close(); err != nil {
			n.log.Error("close peer transport", "err", err)
		}
	})
	n.coord, err = replication.NewCoordinator(replication.Config{
		NodeID:           n.cfg.NodeID,
		MaxSiblings:      n.cfg.MaxSiblings,
		Limits:           n.limits,
		Joined:           n.joined,
		MaxHintWindow:    n.cfg.MaxHintWindow,
		ReadRepairChance: readRepairChance(n.cfg.ReadRepairChance),
		DownSince:        n.downSince,
		Clock:            n.wall,
		Logger:           n.log,
		Fence:            n.fence,
		OnFatal:          n.onFatal,

		TestNoBlockingRepair: n.cfg.TestNoBlockingRepair,
		TestNoHints:          n.cfg.TestNoHints,
	}, replication.Cluster{Policy: policy, Keys: keys}, n.store, n.store, n.dots, n.clock, ringView{n}, n.transport)
	if err != nil {
		return err
	}
	n.onClose(func() { _ = n.coord.Close() }) // Close reports no error
	n.metrics.watchCoordinator(n.coord)
	n.metrics.watchFence(n.fence)
	return nil
}

// openMembership starts memberlist and the member table, then hint
// delivery, which needs to know who is down.
func (n *node) openMembership() error {
	keys, err := gossipKeys(n.cfg, n.store, n.log)
	if err != nil {
		return err
	}
	members, err := cluster.New(cluster.Config{
		NodeID:          n.cfg.NodeID,
		ClusterName:     n.cfg.ClusterName,
		GRPCAddr:        n.grpcAddr,
		PeerAddr:        n.peerAddr,
		GossipAddr:      advertisedGossipAddr(n.cfg),
		GossipBindAddr:  n.cfg.GossipAddr,
		RESPAddr:        n.respAdvertised,
		VNodes:          n.cfg.VNodes,
		Seeds:           n.cfg.Join,
		Replace:         n.cfg.Replace,
		GossipKeys:      keys,
		OnKeyringChange: n.persistGossipKeys,
		Logger:          n.log,
		AdoptSettings:   n.adopt,
		Join:            n.joinVia,
		OnStateLoss:     n.stateLost,
		LastRunning:     n.lastRunning,
		MaxDowntime:     n.cfg.TombstoneGrace,
		Wall:            n.wall,
		OnPeerClock:     n.fence.ObserveRoundTrip,
	}, n.settings, n.store)
	if err != nil {
		if fe := replaceFlagErr(err); fe != nil {
			return fe
		}
		return fmt.Errorf("membership: %w", err)
	}
	n.members.Store(members)
	n.metrics.watchMembership(n.cfg.NodeID, n.members.Load, ringView{n}.Load)
	n.onClose(func() {
		if err := members.Close(); err != nil {
			n.log.Error("close membership", "err", err)
		}
	})
	n.coord.StartHintDelivery(hintInterval)
	return nil
}

// openServers builds the purger, anti-entropy and the gRPC, RESP and
// metrics servers. Objects from other nodes go through the grace rule: an old
// tombstone for a key this replica does not hold is dropped.
func (n *node) openServers() error {
	var err error
	if n.fromPeers, err = antientropy.NewGraceStore(n.store, n.cfg.TombstoneGrace, n.wall); err != nil {
		return err
	}
	n.purger, err = antientropy.NewPurger(antientropy.PurgeConfig{NodeID: n.cfg.NodeID, Grace: n.cfg.TombstoneGrace, Clock: n.wall, Logger: n.log},
		n.store, ringView{n}, n.conns)
	if err != nil {
		return err
	}
	aeCfg := antientropy.DefaultConfig()
	aeCfg.NodeID = n.cfg.NodeID
	aeCfg.Interval = n.cfg.AntiEntropyInterval
	aeCfg.Clock = n.wall
	aeCfg.Logger = n.log
	aeCfg.OnRound = n.metrics.components.observeRound
	n.ae, err = antientropy.New(aeCfg, aeStore{Engine: n.store, fromPeers: n.fromPeers}, ringView{n}, n.conns, n.clock.Update, n.transport)
	if err != nil {
		return err
	}
	n.onClose(func() { _ = n.ae.Close() }) // Close reports no error
	n.metrics.watchComponents(n.transport, n.ae, n.purger, n.peerIDs, n.ae.Peers, n.wall.Now)
	n.exchange, err = replication.NewExchangeServer(replication.ExchangeServerConfig{Logger: n.log, Wall: n.wall},
		replication.NewLocalReplica(n.fromPeers, n.clock, n.limits, n.holdsKey))
	if err != nil {
		return err
	}
	n.onClose(n.exchange.Close)
	n.health = newHealth()
	if n.srv, err = n.clientServer(); err != nil {
		return err
	}
	n.onClose(n.srv.Stop) // a no-op after a graceful stop
	if n.peerSrv, err = n.peerServer(); err != nil {
		return err
	}
	n.onClose(n.peerSrv.Stop) // a no-op after a graceful stop
	if err := n.openRESP(); err != nil {
		return err
	}
	if n.httpLis != nil {
		n.httpSrv = &http.Server{Handler: n.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
		n.onClose(func() { _ = n.httpSrv.Close() }) // cutting what is left
	}
	return nil
}

// serve runs the servers and the background loops until ctx is done or a
// server or the membership fails, then stops taking requests and drains
// those in flight within the shutdown timeout. It returns the failure, nil
// after a shutdown asked for through ctx.
func (n *node) serve(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	goFunc := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	goFunc(func() {
		if err := n.srv.Serve(n.lis); err != nil {
			errc <- fmt.Errorf("grpc server: %w", err)
		}
	})
	goFunc(func() {
		if err := n.peerSrv.Serve(n.peerLis); err != nil {
			errc <- fmt.Errorf("peer grpc server: %w", err)
		}
	})
	if n.respSrv != nil {
		//nolint:contextcheck // connections live until the drain's Shutdown or close's Close, not ctx
		goFunc(func() {
			if err := n.respSrv.Serve(n.respLis); err != nil && !errors.Is(err, resp.ErrServerClosed) {
				errc <- fmt.Errorf("resp server: %w", err)
			}
		})
	}
	if n.httpSrv != nil {
		goFunc(func() {
			if err := n.httpSrv.Serve(n.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics server: %w", err)
			}
		})
	}
	bg, stopBG := context.WithCancel(ctx)
	goFunc(func() { n.fillWhileJoining(bg) })
	goFunc(func() { n.fillGained(bg) })
	goFunc(func() { n.leaveWhenLeaving(bg) })
	goFunc(func() { n.dropHandedOff(bg) })
	goFunc(func() { n.purger.Run(bg) })
	goFunc(func() { n.watchFence(bg) })
	goFunc(func() { n.keepRunningRecord(bg) })
	if n.cfg.TestNoAntiEntropy {
		n.log.Warn("test knob: no anti-entropy rounds")
	} else {
		goFunc(func() { n.ae.Run(bg) })
	}
	members := n.members.Load()
	n.ready.Store(true)
	goFunc(func() { n.keepHealth(bg) })
	n.log.Info("serving", "node_id", n.cfg.NodeID, "grpc_addr", n.grpcAddr, "peer_addr", n.peerAddr, "gossip_addr", advertisedGossipAddr(n.cfg),
		"metrics_addr", n.cfg.MetricsAddr, "resp_addr", n.respAddr(), "joined", members.Joined())

	var runErr error
	select {
	case <-ctx.Done():
		n.log.Info("shutting down", "timeout", n.cfg.ShutdownTimeout)
	case runErr = <-errc:
		n.log.Error("server failed", "err", runErr)
	case <-n.store.Failed():
		// The commit log could not be written: nothing is rolled back in
		// memory, so the node stops rather than serve from it.
		runErr = n.store.Err()
		n.log.Error("storage failed: stopping", "err", runErr)
	case runErr = <-n.fatal:
	case <-n.left:
		n.log.Info("left the cluster: stopping")
	case runErr = <-members.Err():
		if errors.Is(runErr, errRebuild) {
			n.log.Info("the cluster's settings change the conflict policy or a limit: stopping to start again with them")
			break
		}
		n.log.Error("membership failed", "err", runErr)
		var de *cluster.DuplicateIDError
		if errors.As(runErr, &de) {
			runErr = flagErr("node-id", "%q is already used by a live member of the cluster (gossiping from %s): give this node an id of its own", de.ID, de.Addr)
		}
		if fe := replaceFlagErr(runErr); fe != nil {
			runErr = fe
		}
	}
	n.ready.Store(false)
	stopBG()
	n.drain(context.WithoutCancel(ctx))
	wg.Wait()
	return runErr
}

// drain stops taking requests and lets those in flight finish within the
// shutdown timeout, then cuts the rest. The peers' replica streams never
// end by themselves: they are closed first, or a graceful stop would wait
// for them until the timeout (a peer whose write is cut leaves a hint).
// Both gRPC servers and the RESP server drain at the same time.
func (n *node) drain(ctx context.Context) {
	n.health.Shutdown() // NOT_SERVING from now on, whatever readiness says
	n.stopDraining()
	n.exchange.Close()
	var stopping sync.WaitGroup
	for _, srv := range []*grpc.Server{n.srv, n.peerSrv} {
		stopping.Add(1)
		go func() {
			defer stopping.Done()
			srv.GracefulStop()
		}()
	}
	respCtx, cutRESP := context.WithCancel(ctx)
	defer cutRESP()
	if n.respSrv != nil {
		stopping.Add(1)
		go func() {
			defer stopping.Done()
			_ = n.respSrv.Shutdown(respCtx) // cut at the timeout; its error says no more
		}()
	}
	done := make(chan struct{})
	go func() {
		stopping.Wait()
		close(done)
	}()
	timer := time.NewTimer(n.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		n.log.Warn("requests still in flight at the shutdown timeout; cutting them")
		n.srv.Stop()
		n.peerSrv.Stop()
		cutRESP()
		<-done
	}
	if n.httpSrv != nil {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			_ = n.httpSrv.Close() // cutting what is left; its error says nothing more
		}
	}
}

// joined reports whether the node has joined its cluster.
func (n *node) joined() bool {
	m := n.members.Load()
	return m != nil && m.Joined()
}

// adopt is called once by membership when a node started with --join gets
// its cluster's settings from a seed: they must agree with the flags given
// explicitly; they are persisted and take effect at once, or, when the
// node's components were built with another conflict policy or other
// limits, once Run has rebuilt it (errRebuild).
func (n *node) adopt(s cluster.Settings) error {
	if err := checkSettings(n.cfg, s); err != nil {
		return err
	}
	policy, keys, err := coordinatorCluster(s)
	if err != nil {
		return err
	}
	if err := persistSettings(n.store, s); err != nil {
		return err
	}
	if needsRebuild(n.cfg, s) {
		return errRebuild
	}
	n.coord.SetCluster(replication.Cluster{Policy: policy, Keys: keys})
	n.log.Info("joined the cluster", "cluster_id", fmt.Sprintf("%x", s.ClusterID), "replication_factor", s.ReplicationFactor, "conflict", s.Conflict)
	return nil
}

// stateLost is called when the cluster knows this node's id but its data
// dir is new: the dots it minted before may live on other replicas, so it
// takes a new actor (DESIGN.md, Riak's KV679).
func (n *node) stateLost() {
	if err := n.dots.RenewActor(); err != nil {
		n.log.Error("renew actor after state loss", "err", err)
		return
	}
	n.log.Warn("this node id is known to the cluster but its data dir is new: rejoining as joining with a new actor",
		"actor", n.dots.Actor())
}

// memberList returns the current members, nil before membership started.
func (n *node) memberList() []cluster.MemberStatus {
	m := n.members.Load()
	if m == nil {
		return nil
	}
	return m.Members()
}

// member returns member id's entry and liveness.
func (n *node) member(id string) (cluster.MemberStatus, bool) {
	m := n.members.Load()
	if m == nil {
		return cluster.MemberStatus{}, false
	}
	return m.Member(id)
}

// alivePeers returns the ids of the alive members other than this node
// that take part in the ring (not left or removed): the clocks the fence
// compares this node's with.
func (n *node) alivePeers() []string {
	var out []string
	for _, m := range n.memberList() {
		if m.ID == n.cfg.NodeID || m.Liveness != cluster.LivenessAlive || m.State == ring.Left || m.State == ring.Removed {
			continue
		}
		out = append(out, m.ID)
	}
	return out
}

// fenceCheckInterval is how often the clock fence is re-evaluated, so
// that its changes are logged even while no write asks, and, while it is
// fenced, how often the alive peers' clocks are measured (gossip probes
// measure one peer per probe interval: a node that just joined would stay
// fenced for seconds).
const fenceCheckInterval = 250 * time.Millisecond

// clockProbeKey is the key a clock probe reads: any replica answers it,
// with its wall time on the reply.
var clockProbeKey = []byte("\x00quorumkv clock probe")

// watchFence re-evaluates the clock fence until ctx is done; while the
// node is fenced it measures its peers' clocks with a replica read each.
func (n *node) watchFence(ctx context.Context) {
	t := time.NewTicker(fenceCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !n.fence.State().Fenced {
				continue
			}
			for _, id := range n.alivePeers() {
				pctx, cancel := context.WithTimeout(ctx, fenceCheckInterval)
				_, _, _ = n.transport.Read(pctx, id, clockProbeKey) // the reply is the measurement
				cancel()
			}
		}
	}
}

// resolve maps a member id to the address of its peer listener (its gRPC
// address for an entry written before peer listeners existed).
func (n *node) resolve(id string) (string, bool) {
	m, ok := n.member(id)
	addr := m.DialAddr()
	return addr, ok && addr != ""
}

// downSince reports since when member id has been seen down.
func (n *node) downSince(id string) (time.Time, bool) {
	m, ok := n.member(id)
	if !ok {
		return time.Time{}, false
	}
	return n.down.observe(id, m.Liveness == cluster.LivenessDead)
}

// aeStore is the engine as anti-entropy uses it: objects it fetches from
// peers are merged through the grace rule.
type aeStore struct {
	*storage.Engine
	fromPeers *antientropy.GraceStore
}

func (a aeStore) Merge(key []byte, obj *conflict.Object) (*conflict.Object, error) {
	return a.fromPeers.Merge(key, obj)
}

// ringView gives the coordinator the membership's ring, nil until joined.
type ringView struct{ n *node }

func (v ringView) Load() *ring.Ring {
	m := v.n.members.Load()
	if m == nil {
		return nil
	}
	return m.Ring().Load()
}

// downTracker remembers since when each member has been seen down.
type downTracker struct {
	now   func() time.Time
	mu    sync.Mutex
	since map[string]time.Time
}

func (d *downTracker) observe(id string, down bool) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !down {
		delete(d.since, id)
		return time.Time{}, false
	}
	if d.since == nil {
		d.since = map[string]time.Time{}
	}
	t, ok := d.since[id]
	if !ok {
		t = d.now()
		d.since[id] = t
	}
	return t, true
}

// readRepairChance maps --read-repair-chance to the coordinator's setting,
// where zero means the default and a negative value never.
func readRepairChance(flag float64) float64 {
	if flag == 0 {
		return -1
	}
	return flag
}

// holdsKey reports whether this node is a current or pending replica of
// key in its view of the ring: the keys peers may write here.
func (n *node) holdsKey(key []byte) bool { return n.holdsPartition(keyspace.PartitionOf(key)) }

// holdsPartition reports whether this node is a current or pending replica
// of partition p in its view of the ring.
func (n *node) holdsPartition(p keyspace.Partition) bool {
	r := ringView{n}.Load()
	if r == nil {
		return false
	}
	return r.IsReplica(int(p), n.cfg.NodeID) || slices.Contains(r.Pending(int(p)), n.cfg.NodeID)
}
