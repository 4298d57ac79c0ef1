package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/cluster/clustertest"
	"github.com/quorumkv/quorumkv/cluster/ring"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// testQ is the partition count of test clusters: small, so rings are cheap.
const testQ = 64

func testSettings(rf int) Settings {
	return Settings{
		ClusterID:         [16]byte{0xc1, 0x05, 0x7e, 0x12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		ReplicationFactor: rf,
		Partitions:        testQ,
		Conflict:          ConflictLWW,
		Secret:            []byte("0123456789abcdef0123456789abcdef"),
	}
}

// memStore is an in-memory TableStore.
type memStore struct {
	mu    sync.Mutex
	data  []byte
	saves int
	fail  error
}

func (s *memStore) LoadMembers() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.data), nil
}

func (s *memStore) SaveMembers(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.data = bytes.Clone(b)
	s.saves++
	return nil
}

// entries decodes what the store holds.
func (s *memStore) entries(t testing.TB) []Entry {
	t.Helper()
	b, _ := s.LoadMembers()
	tb, err := decodeTable(b)
	if err != nil {
		t.Fatal(err)
	}
	return tb.sorted()
}

// timings shortens memberlist's and Membership's intervals so that tests
// see joins, deaths and forgetting within seconds.
type timings struct {
	probe, probeTimeout, gossip, toTheDead, pushPull, reconnect, joinRetry time.Duration
	suspicionMult                                                          int
}

var fast = timings{
	probe:         200 * time.Millisecond,
	probeTimeout:  100 * time.Millisecond,
	suspicionMult: 3,
	gossip:        50 * time.Millisecond,
	toTheDead:     2 * time.Second,
	pushPull:      300 * time.Millisecond,
	reconnect:     300 * time.Millisecond,
	joinRetry:     100 * time.Millisecond,
}

// testCluster starts nodes on one clustertest.Network.
type testCluster struct {
	t        *testing.T
	net      *clustertest.Network
	settings Settings
	timings  timings
	// keys are the nodes' gossip keys; newTestCluster sets one, so the
	// tests run on encrypted, authenticated gossip unless they clear it.
	keys [][]byte

	mu     sync.Mutex
	byPeer map[string]*Membership // the running Membership at each peer address
	joins  atomic.Int32           // Join calls answered
}

// testGossipKey is the gossip key of test clusters.
var testGossipKey = []byte("quorumkv-test-gossip-key-32bytes")

func newTestCluster(t *testing.T) *testCluster {
	return &testCluster{t: t, net: clustertest.NewNetwork(), settings: testSettings(3), timings: fast, keys: [][]byte{testGossipKey}}
}

// node is one test node: an id, its addresses and its store, which
// survive restarts, and the running Membership.
type node struct {
	id, gossip, grpc, peer string
	seeds                  []string
	store                  *memStore
	replace                string // Config.Replace
	vnodes                 int    // Config.VNodes; 0: 16

	m          *Membership
	adopted    atomic.Int32 // AdoptSettings calls
	stateLoss  atomic.Int32 // OnStateLoss calls
	adoptCheck func(Settings) error
	skew       time.Duration        // added to the node's wall clock
	peerClocks sync.Map             // peer id -> latest offset (time.Duration) its probes measured
	onKeys     func([][]byte) error // OnKeyringChange; nil: none
}

func (c *testCluster) node(i int, seeds ...*node) *node {
	n := &node{
		id:     fmt.Sprintf("n%d", i),
		gossip: fmt.Sprintf("127.0.0.1:%d", 7100+i),
		grpc:   fmt.Sprintf("127.0.0.1:%d", 7000+i),
		peer:   fmt.Sprintf("127.0.0.1:%d", 7300+i),
		store:  &memStore{},
	}
	for _, s := range seeds {
		n.seeds = append(n.seeds, s.gossip)
	}
	return n
}

func (c *testCluster) config(n *node) Config {
	tr, err := c.net.NewTransport(n.gossip)
	if err != nil {
		c.t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if *logFlag {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tm := c.timings
	cfg := DefaultConfig()
	cfg.NodeID = n.id
	cfg.ClusterName = "test"
	cfg.GRPCAddr = n.grpc
	cfg.PeerAddr = n.peer
	cfg.GossipAddr = n.gossip
	cfg.VNodes = 16
	if n.vnodes != 0 {
		cfg.VNodes = n.vnodes
	}
	cfg.Replace = n.replace
	cfg.Seeds = n.seeds
	cfg.Logger = logger
	cfg.Transport = tr
	cfg.GossipKeys = c.keys
	cfg.ProbeInterval = tm.probe
	cfg.ProbeTimeout = tm.probeTimeout
	cfg.SuspicionMult = tm.suspicionMult
	cfg.GossipInterval = tm.gossip
	cfg.GossipToTheDeadTime = tm.toTheDead
	cfg.PushPullInterval = tm.pushPull
	cfg.StreamTimeout = time.Second
	cfg.ReconnectInterval = tm.reconnect
	cfg.JoinRetryInterval = tm.joinRetry
	cfg.AdoptSettings = func(s Settings) error {
		n.adopted.Add(1)
		if n.adoptCheck != nil {
			return n.adoptCheck(s)
		}
		return nil
	}
	cfg.OnStateLoss = func() { n.stateLoss.Add(1) }
	cfg.Wall = func() time.Time { return time.Now().Add(n.skew) }
	cfg.OnPeerClock = func(peer string, peerWall, sent, recv time.Time) {
		n.peerClocks.Store(peer, peerWall.Sub(sent.Add(recv.Sub(sent)/2)))
	}
	cfg.Join = c.join
	cfg.OnKeyringChange = n.onKeys
	return cfg
}

// join is the test nodes' JoinFunc: it answers from the Membership
// running at peerAddr (Join goes to the peer address), with the node's trust rule for a caller without a
// certificate: a key proof when gossip is encrypted.
func (c *testCluster) join(_ context.Context, peerAddr string, req *quorumkvv1.JoinRequest) (*quorumkvv1.JoinResponse, error) {
	c.mu.Lock()
	m := c.byPeer[peerAddr]
	c.mu.Unlock()
	if m == nil {
		return nil, fmt.Errorf("nothing listens on %s", peerAddr)
	}
	if m.Encrypted() {
		if err := m.VerifyJoinProof(req); err != nil {
			return nil, err
		}
	}
	resp, err := m.Admit(req)
	if err == nil {
		c.joins.Add(1)
	}
	return resp, err
}

// start starts n with settings (nil: a node without settings, which
// joins its seeds) and closes it when the test ends.
func (c *testCluster) start(n *node, settings *Settings) {
	c.t.Helper()
	if err := c.tryStart(n, settings); err != nil {
		c.t.Fatalf("starting %s: %v", n.id, err)
	}
}

func (c *testCluster) tryStart(n *node, settings *Settings) error {
	m, err := New(c.config(n), settings, n.store)
	if err != nil {
		return err
	}
	n.m = m
	c.mu.Lock()
	if c.byPeer == nil {
		c.byPeer = map[string]*Membership{}
	}
	c.byPeer[n.peer] = m
	c.mu.Unlock()
	c.t.Cleanup(func() { _ = m.Close() })
	return nil
}

// bootstrap starts n as the first node of the cluster.
func (c *testCluster) bootstrap(n *node) {
	c.t.Helper()
	s := c.settings
	c.start(n, &s)
}

// stop closes n's Membership.
func (c *testCluster) stop(n *node) {
	c.t.Helper()
	if err := n.m.Close(); err != nil {
		c.t.Fatalf("closing %s: %v", n.id, err)
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still not %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// entriesOf returns the table n sees, without liveness.
func entriesOf(n *node) []Entry {
	var es []Entry
	for _, s := range n.m.Members() {
		es = append(es, s.Entry)
	}
	return es
}

func entry(n *node, id string) (Entry, bool) {
	for _, s := range n.m.Members() {
		if s.ID == id {
			return s.Entry, true
		}
	}
	return Entry{}, false
}

func liveness(n *node, id string) string {
	for _, s := range n.m.Members() {
		if s.ID == id {
			return s.Liveness
		}
	}
	return "absent"
}

// converged reports why the nodes do not yet agree on one table of exactly
// ids, with every node joined, alive and seeing the same ring.
func converged(nodes []*node, ids ...string) error {
	var first []Entry
	var firstRing *ring.Ring
	for i, n := range nodes {
		if !n.m.Joined() {
			return fmt.Errorf("%s not joined", n.id)
		}
		es := entriesOf(n)
		got := make([]string, len(es))
		for j, e := range es {
			got[j] = e.ID
		}
		if !slices.Equal(got, ids) {
			return fmt.Errorf("%s sees members %v, want %v", n.id, got, ids)
		}
		r := n.m.Ring().Load()
		if r == nil {
			return fmt.Errorf("%s has no ring", n.id)
		}
		if i == 0 {
			first, firstRing = es, r
			continue
		}
		if !slices.Equal(es, first) {
			return fmt.Errorf("%s sees %v, %s sees %v", nodes[0].id, first, n.id, es)
		}
		if !r.Equal(firstRing) {
			return fmt.Errorf("%s and %s have different rings", nodes[0].id, n.id)
		}
		for _, id := range ids {
			if l := liveness(n, id); l != LivenessAlive {
				return fmt.Errorf("%s sees %s %s", n.id, id, l)
			}
		}
	}
	return nil
}

// recvErr waits for n's permanent error.
func recvErr(t testing.TB, n *node, timeout time.Duration) error {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-n.m.Err():
		return err
	case <-timer.C:
		t.Fatalf("%s reported no error within %v", n.id, timeout)
		return nil
	}
}

func isRemoved(err error, id string) bool {
	var re *RemovedError
	return errors.As(err, &re) && re.ID == id && errors.Is(err, ErrRemoved) &&
		err.Error() == fmt.Sprintf("node id %q was removed from the cluster", id)
}

// threeConverged starts n1 (bootstrapping the cluster) and n2, n3 joining
// it, and waits until all three see each other: the start of most tests.
func (c *testCluster) threeConverged() (n1, n2, n3 *node, all []*node) {
	c.t.Helper()
	n1 = c.node(1)
	n2, n3 = c.node(2, n1), c.node(3, n1)
	c.bootstrap(n1)
	c.start(n2, nil)
	c.start(n3, nil)
	all = []*node{n1, n2, n3}
	eventually(c.t, converge, "converged", func() error { return converged(all, "n1", "n2", "n3") })
	return n1, n2, n3, all
}
