package replication_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/quorumkv/quorumkv/conflict"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
	"github.com/quorumkv/quorumkv/storage"
)

// testPeer is a Replica gRPC server on loopback TCP.
type testPeer struct {
	addr    string
	srv     *grpc.Server
	svc     *replication.ExchangeServer
	batches atomic.Int64 // ReplicaBatch messages received
	ops     atomic.Int64 // operations in them
	served  chan struct{}
	once    sync.Once
}

// startPeer serves rep on addr ("127.0.0.1:0" for any port) until the test
// ends or stop is called.
func startPeer(t testing.TB, rep replication.Replica, addr string) *testPeer {
	t.Helper()
	return startPeerWith(t, rep, addr, replication.ExchangeServerConfig{})
}

// startPeerWith is startPeer with the exchange server configured as cfg.
func startPeerWith(t testing.TB, rep replication.Replica, addr string, cfg replication.ExchangeServerConfig) *testPeer {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPeer{addr: lis.Addr().String(), served: make(chan struct{})}
	if p.svc, err = replication.NewExchangeServer(cfg, rep); err != nil {
		t.Fatal(err)
	}
	p.srv = grpc.NewServer(append(replication.ServerOptions(), grpc.StreamInterceptor(p.count))...)
	quorumkvv1.RegisterReplicaServer(p.srv, p.svc)
	go func() {
		defer close(p.served)
		_ = p.srv.Serve(lis)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop kills the server: connections are closed at once.
func (p *testPeer) stop() {
	p.once.Do(func() {
		p.srv.Stop()
		p.svc.Close()
		<-p.served
	})
}

// count is a stream interceptor counting the batches the server reads.
func (p *testPeer) count(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &countingStream{ServerStream: ss, p: p})
}

type countingStream struct {
	grpc.ServerStream
	p *testPeer
}

func (s *countingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if b, ok := m.(*quorumkvv1.ReplicaBatch); ok && err == nil {
		s.p.batches.Add(1)
		s.p.ops.Add(int64(len(b.GetOps())))
	}
	return err
}

// resolver is a mutable Resolver.
type resolver struct {
	mu    sync.Mutex
	addrs map[string]string
}

func newResolver(kv ...string) *resolver {
	r := &resolver{addrs: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.addrs[kv[i]] = kv[i+1]
	}
	return r
}

func (r *resolver) Resolve(peer string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.addrs[peer]
	return a, ok
}

// newTransport returns a transport to the peers of r, closed when the test
// ends.
func newTransport(t testing.TB, r replication.Resolver, cfg replication.GRPCTransportConfig) *replication.GRPCTransport {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tr := replication.NewGRPCTransport(cfg, newPeerConns(t, r, cfg))
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// newPeerConns returns a pool with the connect timeout and backoffs of cfg,
// closed when the test ends (after the transports made on it).
func newPeerConns(t testing.TB, r replication.Resolver, cfg replication.GRPCTransportConfig) *replication.PeerConns {
	t.Helper()
	conns, err := replication.NewPeerConns(replication.PeerConnsConfig{
		ConnectTimeout: cfg.ConnectTimeout, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff,
	}, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conns.Close() })
	return conns
}

// fastConfig makes failure tests quick.
func fastConfig() replication.GRPCTransportConfig {
	cfg := replication.DefaultGRPCTransportConfig()
	cfg.ConnectTimeout = 300 * time.Millisecond
	cfg.MinBackoff = 200 * time.Millisecond
	cfg.MaxBackoff = 400 * time.Millisecond
	return cfg
}

func TestGRPCTransport_ApplyRead_roundTrip(t *testing.T) {
	rep := replicationtest.NewMemReplica(conflict.LWW)
	peer := startPeer(t, rep, "127.0.0.1:0")
	tr := newTransport(t, newResolver("n2", peer.addr), replication.DefaultGRPCTransportConfig())
	ctx := context.Background()

	key := []byte("k")
	sent := register(1, 1, "v1")
	got, err := tr.Apply(ctx, "n2", key, sent, false)
	if err != nil {
		t.Fatal(err)
	}
	assertObject(t, got, sent)
	held, _ := rep.Object(key)
	assertObject(t, held, sent)

	// A concurrent write merges with the first: the reply is the merge.
	other := register(2, 1, "v2")
	got, err = tr.Apply(ctx, "n2", key, other, true)
	if err != nil {
		t.Fatal(err)
	}
	assertObject(t, got, conflict.Merge(conflict.LWW, sent, other))
	if _, hints, _ := rep.Counts(); hints != 1 {
		t.Errorf("hints applied = %d, want 1", hints)
	}

	obj, found, err := tr.Read(ctx, "n2", key)
	if err != nil || !found {
		t.Fatalf("Read = %v, %v, %v; want the object", obj, found, err)
	}
	assertObject(t, obj, got)

	obj, found, err = tr.Read(ctx, "n2", []byte("missing"))
	if err != nil || found || obj != nil {
		t.Fatalf("Read(missing) = %v, %v, %v; want nil, false, nil", obj, found, err)
	}
}

func TestGRPCTransport_Apply_largeObject(t *testing.T) {
	// DESIGN.md's largest object holds 100 siblings of 1 MiB; a quarter of
	// it is already six times gRPC's default message limit, at a quarter
	// of the test's time under -race.
	siblings := 25
	if testing.Short() {
		siblings = 8
	}
	obj := &conflict.Object{}
	value := bytes.Repeat([]byte("x"), 1<<20)
	for i := range siblings {
		obj = conflict.Merge(conflict.Siblings, obj, registerPolicy(conflict.Siblings, uint64(i+1), 1, value))
	}
	peer := startPeer(t, echoReplica{}, "127.0.0.1:0")
	tr := newTransport(t, newResolver("n2", peer.addr), replication.DefaultGRPCTransportConfig())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := tr.Apply(ctx, "n2", []byte("big"), obj, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Values()); n != siblings {
		t.Fatalf("reply holds %d siblings, want %d", n, siblings)
	}
}

func TestGRPCTransport_Apply_batchesConcurrentRequests(t *testing.T) {
	rep := replicationtest.NewMemReplica(conflict.LWW)
	// A slow replica, as one waiting for fsync, lets requests pile up.
	rep.SetHook(func(ctx context.Context, op string, key []byte) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	peer := startPeer(t, rep, "127.0.0.1:0")
	cfg := replication.DefaultGRPCTransportConfig()
	cfg.StreamsPerPeer = 1
	tr := newTransport(t, newResolver("n2", peer.addr), cfg)

	const callers, each = 64, 8
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Appendf(nil, "k-%d-%d", c, i)
				if _, err := tr.Apply(context.Background(), "n2", key, register(1, uint64(c*each+i+1), "v"), false); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ops, batches := peer.ops.Load(), peer.batches.Load()
	t.Logf("%d operations in %d batches", ops, batches)
	if ops != callers*each {
		t.Fatalf("server received %d operations, want %d", ops, callers*each)
	}
	if batches >= ops/2 {
		t.Fatalf("%d operations in %d batches: concurrent requests were not batched", ops, batches)
	}
	if applies, _, _ := rep.Counts(); applies != callers*each {
		t.Fatalf("replica applied %d, want %d", applies, callers*each)
	}
}

func TestGRPCTransport_peerDown_failsFastAndRecovers(t *testing.T) {
	rep := replicationtest.NewMemReplica(conflict.LWW)
	peer := startPeer(t, rep, "127.0.0.1:0")
	tr := newTransport(t, newResolver("n2", peer.addr), fastConfig())
	ctx := context.Background()
	if _, err := tr.Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false); err != nil {
		t.Fatal(err)
	}

	peer.stop()
	for i := range 5 {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		_, err := tr.Apply(cctx, "n2", []byte("k"), register(1, 2, "v"), false)
		cancel()
		if !errors.Is(err, replication.ErrPeerUnreachable) {
			t.Fatalf("apply %d to a stopped peer: %v, want ErrPeerUnreachable", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("apply %d to a stopped peer took %v: it should fail fast", i, d)
		}
		t.Logf("apply %d: %v", i, err)
	}

	// The peer comes back at the same address: the transport reconnects
	// once its backoff has passed.
	startPeer(t, rep, peer.addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := tr.Apply(ctx, "n2", []byte("k"), register(1, 3, "v"), false)
		if err == nil {
			break
		}
		if !errors.Is(err, replication.ErrPeerUnreachable) || time.Now().After(deadline) {
			t.Fatalf("apply after the peer came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGRPCTransport_peerMoved(t *testing.T) {
	rep := replicationtest.NewMemReplica(conflict.LWW)
	peer := startPeer(t, rep, "127.0.0.1:0")
	res := newResolver("n2", peer.addr)
	tr := newTransport(t, res, fastConfig())
	ctx := context.Background()
	if _, err := tr.Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false); err != nil {
		t.Fatal(err)
	}
	peer.stop()
	moved := startPeer(t, rep, "127.0.0.1:0")
	res.mu.Lock()
	res.addrs["n2"] = moved.addr
	res.mu.Unlock()
	// The broken stream fails what was on it; the next stream is opened at
	// the address the resolver gives now.
	var err error
	for range 3 {
		if _, err = tr.Apply(ctx, "n2", []byte("k"), register(1, 2, "v"), false); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("apply after the peer moved: %v", err)
	}
}

// silentListener accepts TCP connections and never answers on them, as a
// peer behind a black hole or a paused process.
func silentListener(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = lis.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return lis.Addr().String()
}

func TestGRPCTransport_silentPeer_connectTimeoutThenFailFast(t *testing.T) {
	cfg := fastConfig()
	cfg.StreamsPerPeer = 1
	cfg.MinBackoff, cfg.MaxBackoff = 5*time.Second, 5*time.Second
	tr := newTransport(t, newResolver("n2", silentListener(t)), cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := tr.Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false)
	if !errors.Is(err, replication.ErrPeerUnreachable) || errors.Is(err, replication.ErrIndeterminate) {
		t.Fatalf("apply to a silent peer: %v, want ErrPeerUnreachable, not sent", err)
	}
	if d := time.Since(start); d > cfg.ConnectTimeout+2*time.Second {
		t.Fatalf("apply to a silent peer took %v, the connect timeout is %v", d, cfg.ConnectTimeout)
	}
	// Within the backoff, requests fail at once.
	start = time.Now()
	_, _, err = tr.Read(ctx, "n2", []byte("k"))
	if !errors.Is(err, replication.ErrPeerUnreachable) {
		t.Fatalf("read within the backoff: %v, want ErrPeerUnreachable", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("read within the backoff took %v: should fail at once", d)
	}
	t.Log(err)
}

// blockingReplica blocks its operations until released or their ctx ends.
func blockingReplica() (*replicationtest.MemReplica, func()) {
	rep := replicationtest.NewMemReplica(conflict.LWW)
	release := make(chan struct{})
	rep.SetHook(func(ctx context.Context, op string, key []byte) error {
		if string(key) != "slow" {
			return nil
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	var once sync.Once
	return rep, func() { once.Do(func() { close(release) }) }
}

func TestGRPCTransport_Apply_ctxCanceledReturnsPromptly(t *testing.T) {
	rep, release := blockingReplica()
	defer release()
	peer := startPeer(t, rep, "127.0.0.1:0")
	tr := newTransport(t, newResolver("n2", peer.addr), replication.DefaultGRPCTransportConfig())

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.Apply(ctx, "n2", []byte("slow"), register(1, 1, "v"), false)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("canceled apply returned after %v", d)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, replication.ErrIndeterminate) {
		t.Fatalf("canceled apply: %v, want context.Canceled and ErrIndeterminate", err)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	_, _, err = tr.Read(dctx, "n2", []byte("slow"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want context.DeadlineExceeded", err)
	}

	// The late replies are dropped; the stream still serves.
	release()
	if _, err := tr.Apply(context.Background(), "n2", []byte("fast"), register(1, 2, "v"), false); err != nil {
		t.Fatal(err)
	}

	done, dcancel2 := context.WithCancel(context.Background())
	dcancel2()
	_, err = tr.Apply(done, "n2", []byte("k"), register(1, 3, "v"), false)
	if !errors.Is(err, context.Canceled) || errors.Is(err, replication.ErrIndeterminate) {
		t.Fatalf("apply with a done ctx: %v, want context.Canceled, not sent", err)
	}
}

func TestGRPCTransport_Close(t *testing.T) {
	rep, release := blockingReplica()
	defer release()
	peer := startPeer(t, rep, "127.0.0.1:0")
	tr := replication.NewGRPCTransport(replication.DefaultGRPCTransportConfig(),
		newPeerConns(t, newResolver("n2", peer.addr), replication.DefaultGRPCTransportConfig()))

	errc := make(chan error, 1)
	go func() {
		_, err := tr.Apply(context.Background(), "n2", []byte("slow"), register(1, 1, "v"), false)
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for peer.ops.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, replication.ErrTransportClosed) || !errors.Is(err, replication.ErrIndeterminate) {
		t.Fatalf("apply in flight at Close: %v, want ErrTransportClosed and ErrIndeterminate", err)
	}
	if _, err := tr.Apply(context.Background(), "n2", []byte("k"), register(1, 2, "v"), false); !errors.Is(err, replication.ErrTransportClosed) {
		t.Fatalf("apply after Close: %v, want ErrTransportClosed", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestGRPCTransport_remoteErrors(t *testing.T) {
	tests := map[string]struct {
		err  error
		code codes.Code
	}{
		"clock offset":   {fmt.Errorf("apply: %w: 2s ahead", conflict.ErrClockOffset), codes.InvalidArgument},
		"wrong type":     {fmt.Errorf("%w: key holds a set", replication.ErrWrongType), codes.FailedPrecondition},
		"storage closed": {fmt.Errorf("update: %w", storage.ErrClosed), codes.Unavailable},
		"other":          {errors.New("disk on fire"), codes.Internal},
	}
	rep := replicationtest.NewMemReplica(conflict.LWW)
	peer := startPeer(t, rep, "127.0.0.1:0")
	tr := newTransport(t, newResolver("n2", peer.addr), replication.DefaultGRPCTransportConfig())
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rep.SetHook(func(context.Context, string, []byte) error { return tc.err })
			defer rep.SetHook(nil)
			for _, op := range []string{"apply", "read"} {
				var err error
				if op == "apply" {
					_, err = tr.Apply(context.Background(), "n2", []byte("k"), register(1, 1, "v"), false)
				} else {
					_, _, err = tr.Read(context.Background(), "n2", []byte("k"))
				}
				var re *replication.RemoteError
				if !errors.As(err, &re) {
					t.Fatalf("%s: %v, want a RemoteError", op, err)
				}
				if re.Code != tc.code || re.Message != tc.err.Error() {
					t.Errorf("%s: RemoteError{%v, %q}, want {%v, %q}", op, re.Code, re.Message, tc.code, tc.err.Error())
				}
				if errors.Is(err, replication.ErrPeerUnreachable) || errors.Is(err, replication.ErrIndeterminate) {
					t.Errorf("%s: a refusal matches unreachable or indeterminate: %v", op, err)
				}
			}
		})
	}
}

func TestGRPCTransport_unknownPeer(t *testing.T) {
	tr := newTransport(t, replication.ResolverFunc(func(string) (string, bool) { return "", false }), replication.DefaultGRPCTransportConfig())
	_, err := tr.Apply(context.Background(), "n9", []byte("k"), register(1, 1, "v"), false)
	if !errors.Is(err, replication.ErrPeerUnknown) {
		t.Fatalf("apply to an unknown peer: %v, want ErrPeerUnknown", err)
	}
	if !strings.Contains(err.Error(), "n9") {
		t.Errorf("error %q does not name the peer", err)
	}
}

// exchangeClient opens a raw Exchange stream to addr.
func exchangeClient(t *testing.T, addr string) quorumkvv1.Replica_ExchangeClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := quorumkvv1.NewReplicaClient(cc).Exchange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func TestExchangeServer_Exchange_badInput(t *testing.T) {
	rep := replicationtest.NewMemReplica(conflict.LWW)
	peer := startPeer(t, rep, "127.0.0.1:0")
	stream := exchangeClient(t, peer.addr)

	good := register(1, 1, "v").Marshal()
	corrupt := append(bytes.Clone(good), 0xff)
	ops := []*quorumkvv1.ReplicaOp{
		{Id: 1, Op: &quorumkvv1.ReplicaOp_Apply{Apply: &quorumkvv1.ApplyOp{Key: []byte("k"), Object: []byte{0xde, 0xad}}}},
		{Id: 2, Op: &quorumkvv1.ReplicaOp_Apply{Apply: &quorumkvv1.ApplyOp{Key: []byte("k"), Object: corrupt}}},
		{Id: 3, Op: &quorumkvv1.ReplicaOp_Apply{Apply: &quorumkvv1.ApplyOp{Key: nil, Object: good}}},
		{Id: 4},
		{Id: 5, Op: &quorumkvv1.ReplicaOp_Apply{Apply: &quorumkvv1.ApplyOp{Key: []byte("k"), Object: nil}}},
		{Id: 6, Op: &quorumkvv1.ReplicaOp_Read{Read: &quorumkvv1.ReadOp{Key: []byte("absent")}}},
		{Id: 7, Op: &quorumkvv1.ReplicaOp_Apply{Apply: &quorumkvv1.ApplyOp{Key: []byte("k"), Object: good}}},
	}
	want := map[uint64]codes.Code{1: codes.InvalidArgument, 2: codes.InvalidArgument, 3: codes.InvalidArgument, 4: codes.Unimplemented, 5: codes.InvalidArgument, 6: codes.OK, 7: codes.OK}
	if err := stream.Send(&quorumkvv1.ReplicaBatch{Ops: ops}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]*quorumkvv1.ReplicaReply{}
	for {
		b, err := stream.Recv()
		if err != nil {
			// Every operation answered, the server ends the stream cleanly.
			if !strings.Contains(err.Error(), "EOF") {
				t.Fatalf("stream ended with %v, want EOF", err)
			}
			break
		}
		for _, r := range b.GetReplies() {
			if _, dup := got[r.GetId()]; dup {
				t.Errorf("operation %d answered twice", r.GetId())
			}
			got[r.GetId()] = r
		}
	}
	for id, code := range want {
		r, ok := got[id]
		if !ok {
			t.Errorf("operation %d not answered", id)
			continue
		}
		gotCode := codes.OK
		if e := r.GetError(); e != nil {
			gotCode = codes.Code(e.GetCode())
		}
		if gotCode != code {
			t.Errorf("operation %d: code %v (%s), want %v", id, gotCode, r.GetError().GetMessage(), code)
		}
	}
	if r := got[6].GetRead(); r == nil || r.GetFound() {
		t.Errorf("read of an absent key: %v, want found false", got[6])
	}
	if applies, _, _ := rep.Counts(); applies != 1 {
		t.Errorf("replica applied %d objects, want 1 (the valid one)", applies)
	}
}

func TestExchangeServer_Close_endsStreams(t *testing.T) {
	rep, release := blockingReplica()
	peer := startPeer(t, rep, "127.0.0.1:0")
	tr := newTransport(t, newResolver("n2", peer.addr), fastConfig())
	if _, err := tr.Apply(context.Background(), "n2", []byte("k"), register(1, 1, "v"), false); err != nil {
		t.Fatal(err)
	}
	// An operation in flight when the service closes is still answered.
	errc := make(chan error, 1)
	go func() {
		_, err := tr.Apply(context.Background(), "n2", []byte("slow"), register(1, 2, "v"), false)
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for peer.ops.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() {
		peer.svc.Close()
		close(closed)
	}()
	time.Sleep(50 * time.Millisecond)
	release()
	if err := <-errc; err != nil {
		t.Fatalf("apply in flight at Close: %v", err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	// With the streams ended, a graceful stop does not wait for them.
	stopped := make(chan struct{})
	go func() {
		peer.srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop waits for Exchange streams after Close")
	}
	if _, err := tr.Apply(context.Background(), "n2", []byte("k"), register(1, 3, "v"), false); !errors.Is(err, replication.ErrPeerUnreachable) {
		t.Fatalf("apply after the peer closed: %v, want ErrPeerUnreachable", err)
	}
}

func TestGRPCTransportConfig_Validate(t *testing.T) {
	tests := map[string]struct {
		cfg replication.GRPCTransportConfig
		ok  bool
	}{
		"zero":             {replication.GRPCTransportConfig{}, true},
		"defaults":         {replication.DefaultGRPCTransportConfig(), true},
		"negative streams": {replication.GRPCTransportConfig{StreamsPerPeer: -1}, false},
		"negative batch":   {replication.GRPCTransportConfig{MaxBatch: -1}, false},
		"backoff inverted": {replication.GRPCTransportConfig{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// echoReplica answers every apply with the object sent, at no cost: it
// measures the transport alone.
type echoReplica struct{}

func (echoReplica) ApplyReplica(_ context.Context, _ []byte, obj *conflict.Object, _ bool) (*conflict.Object, error) {
	return obj, nil
}

func (echoReplica) ReadReplica(context.Context, []byte) (*conflict.Object, bool, error) {
	return nil, false, nil
}

func BenchmarkGRPCTransport_Apply(b *testing.B) {
	peer := startPeer(b, echoReplica{}, "127.0.0.1:0")
	tr := newTransport(b, newResolver("n2", peer.addr), replication.DefaultGRPCTransportConfig())
	benchmarkApply(b, tr)
	b.ReportMetric(float64(peer.ops.Load())/float64(max(peer.batches.Load(), 1)), "ops/batch")
}
