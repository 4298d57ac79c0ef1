package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/internal/testkit"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// testNode is a node served in process by a test.
type testNode struct {
	n      *node
	cancel context.CancelFunc
	done   chan error // serve's result
}

// testConfig returns the config of node id with its data dir under dir,
// on free loopback ports.
func testConfig(t *testing.T, dir, id string, join ...string) Config {
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.DataDir = filepath.Join(dir, id)
	cfg.ClusterName = "nodetest"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.GossipAddr = testkit.FreeAddr(t)
	cfg.Join = join
	// Far above how long a stop may take, so a stop that waits for it
	// shows as a test failure rather than as a slow pass.
	cfg.ShutdownTimeout = time.Minute
	return cfg
}

// start builds and serves a node; the test stops it at its end if it has
// not stopped it itself.
func start(t *testing.T, cfg Config) *testNode {
	t.Helper()
	return startLogging(t, cfg, io.Discard)
}

// startLogging is start with the node's log lines written to w.
func startLogging(t *testing.T, cfg Config, w io.Writer) *testNode {
	t.Helper()
	log := slog.New(slog.NewTextHandler(w, nil))
	n, err := newNode(cfg, log)
	if err != nil {
		t.Fatalf("newNode(%s): %v", cfg.NodeID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{n: n, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := n.serve(ctx)
		n.close()
		tn.done <- err
	}()
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

// stop asks the node to shut down and waits until it has, returning how
// long that took. It is idempotent.
func (tn *testNode) stop(t *testing.T) time.Duration {
	t.Helper()
	if tn.done == nil {
		return 0
	}
	begin := time.Now()
	tn.cancel()
	if err := <-tn.done; err != nil {
		t.Errorf("%s: serve returned %v after a requested shutdown, want nil", tn.n.cfg.NodeID, err)
	}
	tn.done = nil
	return time.Since(begin)
}

// await polls cond until it returns nil or the deadline passes.
func await(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not reached within %v: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allNormal reports whether every node sees want members, all alive and
// normal, and its clock is not fenced (it has measured its peers').
func allNormal(nodes []*testNode, want int) error {
	for _, tn := range nodes {
		if err := tn.n.fence.Check(); err != nil {
			return err
		}
		ms := tn.n.memberList()
		if len(ms) != want {
			return fmt.Errorf("%s sees %d members", tn.n.cfg.NodeID, len(ms))
		}
		for _, m := range ms {
			if m.Liveness != cluster.LivenessAlive || m.State != ring.Normal {
				return fmt.Errorf("%s sees %s %s %v", tn.n.cfg.NodeID, m.ID, m.Liveness, m.State)
			}
		}
	}
	return nil
}

// Three nodes built in process form a cluster, serve a write at ALL that
// every node reads back, and each stops well within its shutdown timeout
// although peer streams are open (a graceful stop used to wait for them
// until the timeout).
func TestNode_joinServeAndStop(t *testing.T) {
	dir := t.TempDir()
	n1 := start(t, testConfig(t, dir, "n1"))
	seed := n1.n.cfg.GossipAddr
	n2 := start(t, testConfig(t, dir, "n2", seed))
	n3 := start(t, testConfig(t, dir, "n3", seed))
	nodes := []*testNode{n1, n2, n3}
	await(t, 30*time.Second, "three alive normal members on every node", func() error { return allNormal(nodes, 3) })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New([]string{n1.n.grpcAddr}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec, err := c.Put(ctx, []byte("greeting"), []byte("hello"), client.WithConsistency(client.All))
	if err != nil {
		t.Fatalf("put at ALL: %v", err)
	}
	if len(rec.Acknowledged) != 3 {
		t.Fatalf("put at ALL acknowledged by %v, want 3 replicas", rec.Acknowledged)
	}
	for _, tn := range nodes {
		one, err := client.New([]string{tn.n.grpcAddr})
		if err != nil {
			t.Fatal(err)
		}
		got, err := one.Get(ctx, []byte("greeting"), client.WithConsistency(client.One))
		_ = one.Close()
		if err != nil || !got.Found || string(got.Values[0]) != "hello" {
			t.Fatalf("get at ONE through %s: %+v, %v; want hello", tn.n.cfg.NodeID, got, err)
		}
	}
	// An idle node with open peer streams stops in about a second; the
	// bound here is loose for a loaded machine and far below the minute
	// of the shutdown timeout.
	for _, tn := range []*testNode{n3, n2, n1} {
		took := tn.stop(t)
		t.Logf("%s stopped in %v", tn.n.cfg.NodeID, took)
		if took > 15*time.Second {
			t.Errorf("%s took %v to stop: it waited for its shutdown timeout", tn.n.cfg.NodeID, took)
		}
	}
}

// A node that fails half-way through construction closes what it built:
// the data dir and the gRPC port can be used again at once.
func TestNewNode_failureClosesWhatWasBuilt(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t, dir, "n1")
	cfg.GRPCAddr = testkit.FreeAddr(t)
	cfg.MetricsAddr = busy.Addr().String()
	_, err = newNode(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var fe *FlagError
	if !errors.As(err, &fe) || fe.Flag != "metrics-addr" {
		t.Fatalf("newNode with a busy metrics port: %v, want a --metrics-addr error", err)
	}
	l, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		t.Fatalf("gRPC port still bound after the failed start: %v", err)
	}
	_ = l.Close()
	scfg := storage.DefaultConfig()
	scfg.Dir = cfg.DataDir
	eng, err := storage.Open(scfg)
	if err != nil {
		t.Fatalf("data dir still held after the failed start: %v", err)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
}

// A node that does not replicate a key forwards the request to one that
// does; a request already forwarded is not forwarded again but refused as
// retryable (the two nodes disagree on the ring).
func TestNode_forwardsToAReplica(t *testing.T) {
	dir := t.TempDir()
	c1 := testConfig(t, dir, "n1")
	c1.ReplicationFactor = 1
	n1 := start(t, c1)
	c2 := testConfig(t, dir, "n2", c1.GossipAddr)
	c2.ReplicationFactor = 1
	n2 := start(t, c2)
	await(t, 30*time.Second, "two alive normal members on both nodes", func() error { return allNormal([]*testNode{n1, n2}, 2) })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New([]string{n1.n.grpcAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var foreign []byte
	for i := range 40 {
		key := []byte(fmt.Sprintf("k%d", i))
		rec, err := c.Put(ctx, key, key, client.WithConsistency(client.All))
		if err != nil {
			t.Fatalf("put %s through n1: %v", key, err)
		}
		if rec.Coordinator == "n2" {
			foreign = key
		}
		got, err := c.Get(ctx, key, client.WithConsistency(client.All))
		if err != nil || !got.Found || string(got.Values[0]) != string(key) {
			t.Fatalf("get %s through n1: %+v, %v", key, got, err)
		}
	}
	if foreign == nil {
		t.Fatal("no key of 40 was coordinated by n2: nothing was forwarded")
	}

	fwd := metadata.NewIncomingContext(ctx, metadata.Pairs(forwardedHeader, "n2"))
	_, err = (&kvServer{n: n1.n}).Put(fwd, &pb.PutRequest{Key: foreign, Value: []byte("x")})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a forwarded put for a key n1 does not replicate: %v, want Unavailable", err)
	}
}

// A node whose wall clock runs 5s ahead of its two peers' (max offset
// 500ms) fences itself, not them: it is not ready (/readyz 503 naming the
// clock, quorumkv_clock_fenced 1), and a write sent to it is forwarded to
// a replica whose clock may stamp it; the write is acknowledged and a
// later write through a healthy node is what every node reads.
func TestNode_fastClockFencedAndForwards(t *testing.T) {
	dir := t.TempDir()
	n1 := start(t, testConfig(t, dir, "n1"))
	seed := n1.n.cfg.GossipAddr
	n2 := start(t, testConfig(t, dir, "n2", seed))
	c3 := testConfig(t, dir, "n3", seed)
	c3.TestClockOffset = 5 * time.Second
	n3 := start(t, c3)
	await(t, 30*time.Second, "n3 fenced, n1 and n2 not, all members normal", func() error {
		if err := allNormal([]*testNode{n1, n2}, 3); err != nil {
			return err
		}
		if st := n3.n.fence.State(); !st.Fenced || st.Measured < 2 {
			return fmt.Errorf("n3's fence: %+v", st)
		}
		return nil
	})
	rec := httptest.NewRecorder()
	n3.n.httpHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.HasPrefix(rec.Body.String(), "clock fenced: ") {
		t.Fatalf("n3 /readyz: %d %q, want 503 clock fenced", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	n3.n.httpHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	offsetShown := strings.Contains(body, "quorumkv_clock_offset_seconds 4.9") || strings.Contains(body, "quorumkv_clock_offset_seconds 5")
	if !strings.Contains(body, "quorumkv_clock_fenced 1") || !offsetShown {
		t.Fatalf("n3 metrics lack the fence:\n%s", body)
	}
	for _, tn := range []*testNode{n1, n2} {
		rec := httptest.NewRecorder()
		tn.n.httpHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s /readyz: %d %q, want 200", tn.n.cfg.NodeID, rec.Code, rec.Body.String())
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	via3, err := client.New([]string{n3.n.grpcAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer via3.Close()
	key := []byte("k")
	r, err := via3.Put(ctx, key, []byte("through the fast node"), client.WithConsistency(client.Quorum))
	if err != nil || r.Coordinator == "n3" {
		t.Fatalf("put through n3: coordinated by %q, %v; want forwarded to a healthy replica", r.Coordinator, err)
	}
	via1, err := client.New([]string{n1.n.grpcAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer via1.Close()
	if _, err := via1.Put(ctx, key, []byte("later"), client.WithConsistency(client.Quorum)); err != nil {
		t.Fatal(err)
	}
	n1.n.coord.DeliverHints(ctx)
	n3.n.coord.DeliverHints(ctx)
	for _, via := range []*client.Client{via1, via3} {
		got, err := via.Get(ctx, key, client.WithConsistency(client.All))
		if err != nil || !got.Found || len(got.Values) != 1 || string(got.Values[0]) != "later" {
			t.Fatalf("ALL get: %+v, %v; want later", got, err)
		}
	}
	// A write forwarded to a fenced node fails Unavailable, naming the clock.
	fwd := metadata.NewIncomingContext(ctx, metadata.Pairs(forwardedHeader, "n1"))
	_, err = (&kvServer{n: n3.n}).Put(fwd, &pb.PutRequest{Key: key, Value: []byte("x")})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "clock fenced") {
		t.Fatalf("a put forwarded to the fenced n3: %v, want Unavailable, clock fenced", err)
	}
}
