package antientropy

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// testServer is the Replica service of a test node: the replica stream, for
// pushes, and the anti-entropy RPCs, composed as node's replicaServer is.
type testServer struct {
	pb.UnimplementedReplicaServer
	svc    *replication.ExchangeServer
	merkle *MerkleService
}

func (s *testServer) Exchange(st pb.Replica_ExchangeServer) error { return s.svc.Exchange(st) }
func (s *testServer) MerkleRoots(ctx context.Context, r *pb.MerkleRootsRequest) (*pb.MerkleRootsResponse, error) {
	return s.merkle.MerkleRoots(ctx, r)
}
func (s *testServer) MerkleNodes(ctx context.Context, r *pb.MerkleNodesRequest) (*pb.MerkleNodesResponse, error) {
	return s.merkle.MerkleNodes(ctx, r)
}
func (s *testServer) LeafEntries(ctx context.Context, r *pb.LeafEntriesRequest) (*pb.LeafEntriesResponse, error) {
	return s.merkle.LeafEntries(ctx, r)
}
func (s *testServer) FetchObjects(ctx context.Context, r *pb.FetchObjectsRequest) (*pb.FetchObjectsResponse, error) {
	return s.merkle.FetchObjects(ctx, r)
}

// staticRing is a RingView of a fixed ring.
type staticRing struct{ r *ring.Ring }

func (s staticRing) Load() *ring.Ring { return s.r }

// testNode is one in-process node: its store served over loopback gRPC and
// its AntiEntropy.
type testNode struct {
	id    string
	dir   string
	store *storage.Engine
	clock *conflict.Clock
	addr  string
	srv   *grpc.Server
	ae    *AntiEntropy
	stop  func() // stops the server
}

// testCluster is a set of testNodes on one ring with every member normal.
type testCluster struct {
	tb    testing.TB
	nodes map[string]*testNode
	ring  *ring.Ring
}

// clusterOptions shape a test cluster.
type clusterOptions struct {
	n           int                                     // replication factor; 0: number of nodes
	config      func(*Config)                           // adjusts each node's config
	stores      map[string]*storage.Engine              // prebuilt stores by node id
	client      func(pb.ReplicaClient) pb.ReplicaClient // wraps dialed clients
	maxResponse int                                     // lowers the MerkleService response bound
}

func openEngineIn(tb testing.TB, dir string) *storage.Engine {
	tb.Helper()
	cfg := storage.DefaultConfig()
	cfg.Dir = dir
	cfg.Policy = conflict.LWW
	e, err := storage.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

func newTestCluster(tb testing.TB, o clusterOptions, ids ...string) *testCluster {
	tb.Helper()
	members := make([]ring.Member, len(ids))
	for i, id := range ids {
		members[i] = ring.Member{ID: id, VNodes: 64, State: ring.Normal}
	}
	n := o.n
	if n == 0 {
		n = len(ids)
	}
	r, err := ring.New(members, n, keyspace.Q)
	if err != nil {
		tb.Fatal(err)
	}
	c := &testCluster{tb: tb, nodes: map[string]*testNode{}, ring: r}
	for _, id := range ids {
		nd := &testNode{id: id, clock: conflict.NewClock(nil, 0)}
		if s, ok := o.stores[id]; ok {
			nd.store = s
		} else {
			nd.dir = tb.TempDir()
			nd.store = openEngineIn(tb, nd.dir)
		}
		c.serve(nd, o.maxResponse)
		c.nodes[id] = nd
	}
	resolve := replication.ResolverFunc(func(id string) (string, bool) {
		nd, ok := c.nodes[id]
		if !ok {
			return "", false
		}
		return nd.addr, true
	})
	for _, id := range ids {
		nd := c.nodes[id]
		conns, err := replication.NewPeerConns(replication.PeerConnsConfig{}, resolve)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { conns.Close() })
		tr := replication.NewGRPCTransport(replication.GRPCTransportConfig{}, conns)
		tb.Cleanup(func() { tr.Close() })
		dial := testDialer(tb, conns, o.client)
		cfg := DefaultConfig()
		cfg.NodeID = id
		if o.config != nil {
			o.config(&cfg)
		}
		ae, err := New(cfg, nd.store, staticRing{r}, dial, nd.clock.Update, tr)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { ae.Close() })
		nd.ae = ae
	}
	return c
}

// serve starts nd's Replica service on a loopback port.
func (c *testCluster) serve(nd *testNode, maxResponse int) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.tb.Fatal(err)
	}
	nd.addr = lis.Addr().String()
	svc, err := replication.NewExchangeServer(replication.ExchangeServerConfig{}, replication.NewLocalReplica(nd.store, nd.clock, keyspace.DefaultLimits(), nil))
	if err != nil {
		c.tb.Fatal(err)
	}
	nd.srv = grpc.NewServer(replication.ServerOptions()...)
	merkle, err := NewMerkleService(MerkleServiceConfig{MaxResponseBytes: maxResponse}, nd.store)
	if err != nil {
		c.tb.Fatal(err)
	}
	pb.RegisterReplicaServer(nd.srv, &testServer{svc: svc, merkle: merkle})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = nd.srv.Serve(lis)
	}()
	var once sync.Once
	nd.stop = func() {
		once.Do(func() {
			svc.Close()
			nd.srv.Stop()
			<-served
		})
	}
	c.tb.Cleanup(nd.stop)
}

// testDialer returns the pool's clients, wrapped by wrap when it is set: the
// node's one pool of peer connections, as node uses it.
func testDialer(tb testing.TB, conns *replication.PeerConns, wrap func(pb.ReplicaClient) pb.ReplicaClient) PeerDialer {
	tb.Helper()
	if wrap == nil {
		return conns
	}
	return PeerDialerFunc(func(peer string) (pb.ReplicaClient, error) {
		cl, err := conns.ReplicaClient(peer)
		if err != nil {
			return nil, err
		}
		return wrap(cl), nil
	})
}

// registerObject returns a register object holding value, stamped with dot
// (actor, counter) at wall time wall.
func registerObject(actor, counter uint64, wall int64, value string) *conflict.Object {
	o := &conflict.Object{}
	o.Put(conflict.LWW, conflict.Dot{Actor: conflict.ActorID(actor), Counter: counter}, conflict.Timestamp{Wall: wall}, []byte(value), conflict.Context{})
	return o
}

// writeAll merges objs[i] under keys[i] into each store, 128 merges in
// flight so they share group commits.
func writeAll(tb testing.TB, keys [][]byte, objs []*conflict.Object, stores ...*storage.Engine) {
	tb.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 128)
	for _, s := range stores {
		for i := range keys {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if _, err := s.Merge(keys[i], objs[i]); err != nil {
					tb.Error(err)
				}
			}()
		}
	}
	wg.Wait()
}

// testKeys returns n keys and a register object for each, of valueSize
// bytes, stamped by actor 1.
func testKeys(n, valueSize int) ([][]byte, []*conflict.Object) {
	keys := make([][]byte, n)
	objs := make([]*conflict.Object, n)
	pad := make([]byte, valueSize)
	for i := range n {
		keys[i] = fmt.Appendf(nil, "key-%07d", i)
		objs[i] = registerObject(1, uint64(i+1), int64(1000+i), string(pad))
	}
	return keys, objs
}

// twinStores returns two stores holding the same n keys: one is written,
// then its data file copied, which is much faster than writing both.
func twinStores(tb testing.TB, n, valueSize int) (a, b *storage.Engine, keys [][]byte) {
	tb.Helper()
	dirA, dirB := tb.TempDir(), tb.TempDir()
	src := openEngineIn(tb, dirA)
	keys, objs := testKeys(n, valueSize)
	writeAll(tb, keys, objs, src)
	if err := src.Close(); err != nil {
		tb.Fatal(err)
	}
	copyFile(tb, storage.DataFile(dirA), filepath.Join(dirB, filepath.Base(storage.DataFile(dirA))))
	return openEngineIn(tb, dirA), openEngineIn(tb, dirB), keys
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	in, err := os.Open(from)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
}

// fakeClock is the clock of a throttled round: time moves only when the
// throttle sleeps, to the end of the sleep, so a test reads how long the
// limits made the round take without waiting for it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
	return ctx.Err()
}
