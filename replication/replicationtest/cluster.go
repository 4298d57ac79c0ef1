package replicationtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// ClusterConfig configures NewCluster. Every field's zero value takes the
// default it names.
type ClusterConfig struct {
	// Nodes is the node count; the nodes are n1..nNodes. Zero means 3.
	Nodes int
	// N is the replication factor of the ring. Zero means 3.
	N int
	// Policy is the cluster's conflict policy. Zero means conflict.LWW.
	Policy conflict.Policy
	// Seed seeds the InmemNetwork's random choices.
	Seed uint64
	// MaxClockOffset is every node's clock offset bound. Zero means 500ms.
	MaxClockOffset time.Duration
	// MaxHintWindow is every coordinator's hint window. Zero means the
	// coordinator's default (3h).
	MaxHintWindow time.Duration
	// GRPC connects the nodes over loopback gRPC (a grpc.Server on
	// 127.0.0.1:0 per node serving NewExchangeServer, a GRPCTransport
	// resolving ids to those addresses) instead of an InmemNetwork; then
	// Cluster.Net is nil and the network faults are not available.
	GRPC bool
	// Coordinator, when set, may change a node's coordinator configuration
	// before the coordinator is made.
	Coordinator func(id string, cfg *replication.Config)
	// Staged makes every coordinator write through a StagedStore over its
	// engine (Node.Staged), which a test may hold, release or crash.
	// False: coordinators write to their engines directly.
	Staged bool
}

// Node is one node of a Cluster: its own engine, dot issuer (refilling its
// leases in the background) and clock, its
// local replica as peers reach it, its transport and its coordinator.
type Node struct {
	ID     string
	Engine *storage.Engine
	Dots   *conflict.DotIssuer
	// Clock is the node's hybrid logical clock; its wall clock is the
	// machine's shifted by the node's skew (SetSkew).
	Clock *conflict.Clock
	// Replica is the node's LocalReplica as its peers reach it: a hook on
	// it fails or slows the operations peers send this node.
	Replica *HookReplica
	// Transport is what the node's coordinator sends through: a hook on it
	// intercepts the node's outgoing operations.
	Transport *HookTransport
	Coord     *replication.Coordinator
	// Staged is the store the coordinator writes through, with
	// ClusterConfig.Staged; nil otherwise.
	Staged *StagedStore

	coordCfg replication.Config // as the coordinator was made, for Restart

	skew atomic.Int64 // nanoseconds added to the wall clock

	grpcSrv *grpc.Server
	grpcSvc *replication.ExchangeServer
	conns   *replication.PeerConns // under the GRPCTransport
	served  chan struct{}
}

// SetSkew shifts the node's wall clock by d (negative: behind) from now on.
func (n *Node) SetSkew(d time.Duration) { n.skew.Store(int64(d)) }

func (n *Node) wall() time.Time { return time.Now().Add(time.Duration(n.skew.Load())) }

// Cluster is an in-process cluster of Nodes, every one a coordinator, with
// a shared ring, keyring and conflict policy. Which nodes count as down for
// the coordinators (their DownSince) is the test's to say, through Kill,
// Revive, MarkDown and MarkUp. Everything is closed when the test ends:
// coordinators first, then dot issuers, transports (and servers), engines.
type Cluster struct {
	// Net connects the nodes; nil for a GRPC cluster.
	Net    *InmemNetwork
	Ring   *ring.Holder
	Keys   *conflict.Keyring
	Policy conflict.Policy
	Nodes  []*Node

	mu   sync.Mutex
	down map[string]time.Time
}

// NewCluster starts a cluster for t as cfg says. It fails t if any part
// cannot be made.
func NewCluster(t testing.TB, cfg ClusterConfig) *Cluster {
	t.Helper()
	if cfg.Nodes <= 0 {
		cfg.Nodes = 3
	}
	if cfg.N <= 0 {
		cfg.N = 3
	}
	if cfg.Policy == 0 {
		cfg.Policy = conflict.LWW
	}
	if cfg.MaxClockOffset <= 0 {
		cfg.MaxClockOffset = 500 * time.Millisecond
	}
	c := &Cluster{Policy: cfg.Policy, down: map[string]time.Time{}}
	t.Cleanup(c.close(t))

	var clusterID [conflict.ClusterIDSize]byte
	copy(clusterID[:], "replicationtest!")
	secret := fmt.Appendf(nil, "secret of the test cluster %d", cfg.Seed)
	keys, err := conflict.NewKeyring(clusterID, secret)
	if err != nil {
		t.Fatal(err)
	}
	c.Keys = keys

	members := make([]ring.Member, cfg.Nodes)
	for i := range members {
		members[i] = ring.Member{ID: fmt.Sprintf("n%d", i+1), VNodes: 64, State: ring.Normal}
	}
	r, err := ring.New(members, cfg.N, keyspace.Q)
	if err != nil {
		t.Fatal(err)
	}
	c.Ring = ring.NewHolder(r)

	for _, m := range members {
		n := &Node{ID: m.ID}
		c.Nodes = append(c.Nodes, n)
		scfg := storage.DefaultConfig()
		scfg.Dir = t.TempDir()
		scfg.Policy = cfg.Policy
		if n.Engine, err = storage.Open(scfg); err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
		if n.Dots, err = conflict.OpenDotIssuer(n.Engine, 0, nil); err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
		// Dots are minted inside storage transactions: leases are persisted
		// ahead, as the node does.
		n.Dots.StartRefill()
		n.Clock = conflict.NewClock(n.wall, cfg.MaxClockOffset)
		n.Replica = NewHookReplica(replication.NewLocalReplica(n.Engine, n.Clock, keyspace.DefaultLimits(), nil))
	}

	transports := c.connect(t, cfg)
	for i, n := range c.Nodes {
		n.Transport = NewHookTransport(transports[i])
		ccfg := replication.Config{
			Clock:         n.wall,
			NodeID:        n.ID,
			MaxSiblings:   100,
			Limits:        keyspace.DefaultLimits(),
			MaxHintWindow: cfg.MaxHintWindow,
			DownSince:     c.DownSince,
		}
		if cfg.Coordinator != nil {
			cfg.Coordinator(n.ID, &ccfg)
		}
		n.coordCfg = ccfg
		if cfg.Staged {
			n.Staged = NewStagedStore(n.Engine, cfg.Policy)
		}
		if n.Coord, err = c.newCoordinator(n); err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
	}
	return c
}

func (c *Cluster) newCoordinator(n *Node) (*replication.Coordinator, error) {
	var store replication.Store = n.Engine
	if n.Staged != nil {
		store = n.Staged
	}
	return replication.NewCoordinator(n.coordCfg, replication.Cluster{Policy: c.Policy, Keys: c.Keys},
		store, n.Engine, n.Dots, n.Clock, c.Ring, n.Transport)
}

// Restart restarts node id as a process restarting on its data dir would:
// its coordinator is closed (which waits for its background work: release
// or crash what its StagedStore holds first), its dot issuer is reopened
// from the leases in its engine, with a new actor when renewActor is set
// (as after a start not preceded by a clean shutdown), and a new
// coordinator with the same configuration takes its place. Its engine,
// replica and transport, and the other nodes, are untouched.
func (c *Cluster) Restart(t testing.TB, id string, renewActor bool) {
	t.Helper()
	n := c.Node(id)
	_ = n.Coord.Close() // reports no error
	n.Dots.Close()
	dots, err := conflict.OpenDotIssuer(n.Engine, 0, nil)
	if err != nil {
		t.Fatalf("%s: reopen dot issuer: %v", id, err)
	}
	n.Dots = dots // closed by the cluster's cleanup from now on
	if renewActor {
		if err := dots.RenewActor(); err != nil {
			t.Fatalf("%s: renew actor: %v", id, err)
		}
	}
	dots.StartRefill()
	if n.Coord, err = c.newCoordinator(n); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
}

// connect returns each node's transport: on an InmemNetwork, or over
// loopback gRPC servers it starts.
func (c *Cluster) connect(t testing.TB, cfg ClusterConfig) []replication.Transport {
	t.Helper()
	out := make([]replication.Transport, len(c.Nodes))
	if !cfg.GRPC {
		c.Net = NewInmemNetwork(cfg.Seed)
		for _, n := range c.Nodes {
			c.Net.Add(n.ID, n.Replica)
		}
		for i, n := range c.Nodes {
			out[i] = c.Net.Transport(n.ID)
		}
		return out
	}
	addrs := map[string]string{}
	for _, n := range c.Nodes {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[n.ID] = lis.Addr().String()
		if n.grpcSvc, err = replication.NewExchangeServer(replication.ExchangeServerConfig{}, n.Replica); err != nil {
			t.Fatal(err)
		}
		n.grpcSrv = grpc.NewServer(replication.ServerOptions()...)
		quorumkvv1.RegisterReplicaServer(n.grpcSrv, n.grpcSvc)
		n.served = make(chan struct{})
		go func(srv *grpc.Server, done chan struct{}) {
			defer close(done)
			_ = srv.Serve(lis) // ends with Stop
		}(n.grpcSrv, n.served)
	}
	resolve := replication.ResolverFunc(func(id string) (string, bool) {
		a, ok := addrs[id] // written before any transport exists
		return a, ok
	})
	for i, n := range c.Nodes {
		conns, err := replication.NewPeerConns(replication.PeerConnsConfig{}, resolve)
		if err != nil {
			t.Fatal(err)
		}
		n.conns = conns
		out[i] = replication.NewGRPCTransport(replication.GRPCTransportConfig{}, conns)
	}
	return out
}

// close returns the cleanup that stops everything NewCluster started, in
// dependency order, whatever part of it was made.
func (c *Cluster) close(t testing.TB) func() {
	return func() {
		for _, n := range c.Nodes {
			if n.Staged != nil {
				// What a test left staged is made durable, so the
				// coordinators' waits for it end.
				n.Staged.Hold(false)
				if err := n.Staged.Release(); err != nil {
					t.Errorf("%s: release staged writes: %v", n.ID, err)
				}
			}
		}
		for _, n := range c.Nodes {
			if n.Coord != nil {
				_ = n.Coord.Close() // reports no error
			}
		}
		for _, n := range c.Nodes {
			if n.Dots != nil {
				n.Dots.Close()
			}
		}
		for _, n := range c.Nodes {
			if n.Transport != nil {
				if err := n.Transport.Close(); err != nil {
					t.Errorf("%s: close transport: %v", n.ID, err)
				}
			}
		}
		for _, n := range c.Nodes {
			if n.conns != nil {
				_ = n.conns.Close() // reports no error
			}
		}
		for _, n := range c.Nodes {
			if n.grpcSrv != nil {
				n.grpcSvc.Close()
				n.grpcSrv.Stop()
				<-n.served
			}
		}
		for _, n := range c.Nodes {
			if n.Engine != nil {
				if err := n.Engine.Close(); err != nil {
					t.Errorf("%s: close engine: %v", n.ID, err)
				}
			}
		}
	}
}

// Node returns the node with id; it panics on an unknown id (a broken test).
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	panic("replicationtest: no node " + id)
}

// IDs returns the node ids, n1 first.
func (c *Cluster) IDs() []string {
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		ids[i] = n.ID
	}
	return ids
}

// DownSince is every coordinator's Config.DownSince: since when the test
// has said id is down.
func (c *Cluster) DownSince(id string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	since, ok := c.down[id]
	return since, ok
}

// MarkDown makes the coordinators see id as down since since, without
// touching the network.
func (c *Cluster) MarkDown(id string, since time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down[id] = since
}

// MarkUp makes the coordinators see id as up again.
func (c *Cluster) MarkUp(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.down, id)
}

// Kill takes node id off the network (InmemNetwork.Down) and marks it
// down since now, as a crashed node the failure detector has noticed. Not
// for a GRPC cluster (no network to take it off).
func (c *Cluster) Kill(id string) {
	c.Net.Down(id)
	c.MarkDown(id, time.Now())
}

// Revive undoes Kill.
func (c *Cluster) Revive(id string) {
	c.Net.Up(id)
	c.MarkUp(id)
}

// DeliverHints runs one hint delivery round on every node.
func (c *Cluster) DeliverHints(ctx context.Context) {
	for _, n := range c.Nodes {
		n.Coord.DeliverHints(ctx)
	}
}

// Digests returns every node's engine digest, by node id.
func (c *Cluster) Digests() map[string][storage.HashSize]byte {
	out := map[string][storage.HashSize]byte{}
	for _, n := range c.Nodes {
		out[n.ID] = n.Engine.Digest()
	}
	return out
}

// Converged reports whether every node's engine digest is the same.
func (c *Cluster) Converged() bool {
	first := c.Nodes[0].Engine.Digest()
	for _, n := range c.Nodes[1:] {
		if n.Engine.Digest() != first {
			return false
		}
	}
	return true
}

// Values returns the live register values node id's engine holds for key,
// nil when it holds none.
func (c *Cluster) Values(id string, key []byte) ([][]byte, error) {
	o, err := c.Node(id).Engine.Get(key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return o.Values(), nil
}

// HoldsValue reports whether node id's engine holds exactly the live
// values want (in the engine's sibling order) for key.
func (c *Cluster) HoldsValue(id string, key []byte, want ...[]byte) bool {
	vs, err := c.Values(id, key)
	if err != nil {
		return false
	}
	return slices.EqualFunc(vs, want, func(a, b []byte) bool { return string(a) == string(b) })
}

// Eventually polls cond every few milliseconds until it holds, and fails t
// with the message if it does not within timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			if cond() {
				return
			}
			t.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
		}
	}
}
