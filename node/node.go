package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/antientropy"
	"github.com/quorumkv/quorumkv/storage"
)

// node holds the wired components of a running server.
type node struct {
	cfg       Config
	log       *slog.Logger
	store     *storage.Engine
	clock     *conflict.Clock
	dots      *conflict.DotIssuer
	coord     *replication.Coordinator
	transport *replication.GRPCTransport
	members   atomic.Pointer[cluster.Membership]
	limits    keyspace.Limits
	metrics   *metrics
	grpcAddr  string // the address actually bound
	ready     atomic.Bool
	peers     *peerConns
	conns     *replication.PeerConns
	down      downTracker
	ae        *antientropy.AntiEntropy
}

// grpcOverhead is the room left above the largest value in a gRPC message,
// for the key, the token and framing.
const grpcOverhead = 1 << 20

// hintInterval is how often hints are offered to live members.
const hintInterval = 2 * time.Second

// Run starts a node and serves until ctx is done, then stops taking
// requests, lets those in flight finish within cfg.ShutdownTimeout, and
// closes storage. It returns nil after a clean shutdown. Listening sockets
// are bound before Run logs "serving", so a caller may connect from then on.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	n := &node{cfg: cfg, log: log, limits: keyspace.Limits{MaxKeyBytes: cfg.MaxKeyBytes, MaxValueBytes: cfg.MaxValueBytes}}
	n.metrics = newMetrics()
	n.down.now = time.Now

	scfg := storage.DefaultConfig()
	scfg.Dir = cfg.DataDir
	scfg.Policy = cfg.Conflict
	scfg.OnSync = n.metrics.observeCommit
	store, err := storage.Open(scfg)
	if err != nil {
		return err
	}
	n.store = store
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close storage", "err", err)
		}
		log.Info("stopped")
	}()
	n.metrics.watchStorage(store)

	if err := checkIdentity(cfg, store); err != nil {
		return err
	}
	settings, err := loadSettings(cfg, store, log)
	if err != nil {
		return err
	}
	if n.dots, err = conflict.OpenDotIssuer(store, 0, nil); err != nil {
		return err
	}
	wall := cfg.Wall
	if wall == nil {
		wall = time.Now
	}
	if off := cfg.TestClockOffset; off != 0 {
		base := wall
		wall = func() time.Time { return base().Add(off) }
		log.Warn("test knob: wall clock offset", "offset", off)
	}
	n.clock = conflict.NewClock(wall, cfg.MaxClockOffset)
	// Dots are minted inside storage transactions: leases must be persisted
	// ahead, never by Next itself.
	n.dots.StartRefill()
	defer n.dots.Close()

	// Until a node started with --join adopts its cluster's settings, it
	// serves ONE with the policy of its flags and tokens of its own.
	initial := cluster.Settings{Conflict: cfg.Conflict.String(), Secret: make([]byte, 32)}
	if settings != nil {
		initial = *settings
	} else if _, err := rand.Read(initial.Secret); err != nil {
		return err
	}
	policy, keys, err := coordinatorCluster(initial)
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return flagErr("grpc-addr", "cannot listen on %s: %v", cfg.GRPCAddr, err)
	}
	n.grpcAddr = lis.Addr().String()
	var httpLis net.Listener
	if cfg.MetricsAddr != "" {
		if httpLis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			_ = lis.Close()
			return flagErr("metrics-addr", "cannot listen on %s: %v", cfg.MetricsAddr, err)
		}
	}
	closeListeners := func() {
		_ = lis.Close() // never served: nothing to lose
		if httpLis != nil {
			_ = httpLis.Close()
		}
	}

	n.conns, err = replication.NewPeerConns(replication.PeerConnsConfig{}, replication.ResolverFunc(n.resolve))
	if err != nil {
		closeListeners()
		return err
	}
	defer func() { _ = n.conns.Close() }() // after the transport and every other user; reports no error
	n.transport = replication.NewGRPCTransport(replication.GRPCTransportConfig{}, n.conns)
	n.peers = newPeerConns()
	n.coord, err = replication.NewCoordinator(replication.Config{
		NodeID:        cfg.NodeID,
		MaxSiblings:   cfg.MaxSiblings,
		Limits:        n.limits,
		Joined:        n.joined,
		MaxHintWindow: cfg.MaxHintWindow,
		DownSince:     n.downSince,
		Clock:         wall,
		Logger:        log,

		TestNoBlockingRepair: cfg.TestNoBlockingRepair,
		TestNoHints:          cfg.TestNoHints,
	}, replication.Cluster{Policy: policy, Keys: keys}, store, store, n.dots, n.clock, ringView{n}, n.transport)
	if err != nil {
		closeListeners()
		_ = n.transport.Close() // nothing was sent yet
		return err
	}
	n.metrics.watchCoordinator(n.coord)

	members, err := cluster.New(cluster.Config{
		NodeID:        cfg.NodeID,
		ClusterName:   cfg.ClusterName,
		GRPCAddr:      n.grpcAddr,
		GossipAddr:    cfg.GossipAddr,
		VNodes:        cfg.VNodes,
		Seeds:         cfg.Join,
		Logger:        log,
		AdoptSettings: n.adopt,
		OnStateLoss:   n.stateLost,
	}, settings, store)
	if err != nil {
		closeListeners()
		_ = n.coord.Close() // Close reports no error
		_ = n.transport.Close()
		return fmt.Errorf("membership: %w", err)
	}
	n.members.Store(members)
	n.coord.StartHintDelivery(hintInterval)

	// Objects from other nodes go through the grace rule: an old tombstone
	// for a key this replica does not hold is dropped (tombstone purge).
	fromPeers, err := antientropy.NewGraceStore(store, cfg.TombstoneGrace, wall)
	if err != nil {
		closeListeners()
		_ = n.coord.Close()
		_ = members.Close()
		_ = n.transport.Close()
		return err
	}
	purger, err := antientropy.NewPurger(antientropy.PurgeConfig{NodeID: cfg.NodeID, Grace: cfg.TombstoneGrace, Clock: wall, Logger: log},
		store, ringView{n}, n.conns)
	if err != nil {
		closeListeners()
		_ = n.coord.Close()
		_ = members.Close()
		_ = n.transport.Close()
		return err
	}
	replicaSvc, err := replication.NewExchangeServer(replication.ExchangeServerConfig{Logger: log}, replication.NewLocalReplica(fromPeers, n.clock, n.limits.CheckKey))
	if err != nil {
		closeListeners()
		_ = n.coord.Close()
		_ = members.Close()
		_ = n.transport.Close()
		return err
	}
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(max(cfg.MaxValueBytes+cfg.MaxKeyBytes+grpcOverhead, replication.MaxMessageBytes)),
		grpc.MaxSendMsgSize(replication.MaxMessageBytes),
		grpc.ChainUnaryInterceptor(n.metrics.unaryInterceptor),
	)
	pb.RegisterKVServer(srv, &kvServer{n: n})
	merkle, err := antientropy.NewMerkleService(antientropy.MerkleServiceConfig{Replicates: func(p keyspace.Partition) bool {
		r := ringView{n}.Load()
		return r != nil && r.IsReplica(int(p), cfg.NodeID)
	}}, store)
	if err != nil {
		closeListeners()
		_ = n.coord.Close()
		_ = members.Close()
		_ = n.transport.Close()
		return err
	}
	pb.RegisterReplicaServer(srv, &replicaServer{svc: replicaSvc, streamer: antientropy.NewPartitionStreamer(store), merkle: merkle})
	aeCfg := antientropy.DefaultConfig()
	aeCfg.NodeID = cfg.NodeID
	aeCfg.Interval = cfg.AntiEntropyInterval
	aeCfg.Clock = wall
	aeCfg.Logger = log
	n.ae, err = antientropy.New(aeCfg, aeStore{Engine: store, fromPeers: fromPeers}, ringView{n}, n.conns, n.clock.Update, n.transport)
	if err != nil {
		closeListeners()
		_ = n.coord.Close()
		_ = members.Close()
		_ = n.transport.Close()
		return err
	}

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(lis); err != nil {
			errc <- fmt.Errorf("grpc server: %w", err)
		}
	}()
	var httpSrv *http.Server
	if httpLis != nil {
		httpSrv = &http.Server{Handler: n.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := httpSrv.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics server: %w", err)
			}
		}()
	}
	fillCtx, stopFill := context.WithCancel(ctx)
	wg.Add(2)
	go func() {
		defer wg.Done()
		n.fillWhileJoining(fillCtx)
	}()
	go func() {
		defer wg.Done()
		purger.Run(fillCtx)
	}()
	if !cfg.TestNoAntiEntropy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.ae.Run(fillCtx)
		}()
	}
	n.ready.Store(true)
	log.Info("serving", "node_id", cfg.NodeID, "grpc_addr", n.grpcAddr, "gossip_addr", cfg.GossipAddr,
		"metrics_addr", cfg.MetricsAddr, "joined", members.Joined(), "conflict", policy)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case runErr = <-errc:
		log.Error("server failed", "err", runErr)
	case runErr = <-members.Err():
		log.Error("membership failed", "err", runErr)
	}
	n.ready.Store(false)
	stopFill()
	n.shutdown(context.WithoutCancel(ctx), srv, httpSrv)
	replicaSvc.Close()
	_ = n.ae.Close()    // Close reports no error
	_ = n.coord.Close() // Close reports no error
	if err := members.Close(); err != nil {
		log.Error("close membership", "err", err)
	}
	if err := n.transport.Close(); err != nil {
		log.Error("close peer transport", "err", err)
	}
	n.peers.close()
	wg.Wait()
	return runErr
}

// shutdown stops taking requests and lets those in flight finish within
// the shutdown timeout, then cuts the rest.
func (n *node) shutdown(ctx context.Context, srv *grpc.Server, httpSrv *http.Server) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	timer := time.NewTimer(n.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		n.log.Warn("requests still in flight at the shutdown timeout; cutting them")
		srv.Stop()
		<-done
	}
	if httpSrv != nil {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := httpSrv.Shutdown(ctx); err != nil {
			_ = httpSrv.Close() // cutting what is left; its error says nothing more
		}
	}
}

// joined reports whether the node has joined its cluster.
func (n *node) joined() bool {
	m := n.members.Load()
	return m != nil && m.Joined()
}

// adopt is called once by membership when a node started with --join gets
// its cluster's settings from a seed: they must agree with the flags; they
// are persisted and take effect at once.
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

// resolve maps a member id to its gRPC address.
func (n *node) resolve(id string) (string, bool) {
	for _, m := range n.memberList() {
		if m.ID == id {
			return m.GRPCAddr, m.GRPCAddr != ""
		}
	}
	return "", false
}

// downSince reports since when member id has been seen down.
func (n *node) downSince(id string) (time.Time, bool) {
	for _, m := range n.memberList() {
		if m.ID == id {
			return n.down.observe(id, m.Liveness == cluster.LivenessDead)
		}
	}
	return time.Time{}, false
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
