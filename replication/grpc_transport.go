package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/internal/lograte"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// GRPCTransport is the Transport over the Replica service's Exchange
// streams: long-lived bidirectional streams to each peer, opened at the
// first request and reopened after a failure, on which concurrent requests
// travel together in batches.
//
// Goroutines: each open stream has a sender (which also opens the stream
// and closes it) and a receiver, owned by the transport; Close stops and
// waits for them. A request blocks its caller only.
type GRPCTransport struct {
	cfg      GRPCTransportConfig
	resolver Resolver
	conns    *PeerConns
	ctx      context.Context // done once Close is called
	cancel   context.CancelFunc
	closed   atomic.Bool
	peers    sync.Map         // peer id -> *grpcPeer
	logLimit *lograte.Limiter // stream failures, per peer

	mu       sync.Mutex // orders wg.Add against Close
	shutdown bool
	wg       sync.WaitGroup
}

var _ Transport = (*GRPCTransport)(nil)

// NewGRPCTransport returns a transport that opens its streams on conns,
// the node's one pool of peer connections, which it does not close (its
// owner closes it after the transport). It connects to nothing until the
// first request. Unusable fields of cfg (see Validate) take their
// defaults.
func NewGRPCTransport(cfg GRPCTransportConfig, conns *PeerConns) *GRPCTransport {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &GRPCTransport{
		cfg:      cfg,
		logLimit: lograte.New(lograte.DefaultInterval, cfg.Clock.Now),
		resolver: conns.resolver,
		conns:    conns,
		ctx:      ctx,
		cancel:   cancel,
	}
}

// Apply implements Transport.
func (t *GRPCTransport) Apply(ctx context.Context, peer string, key []byte, obj *conflict.Object, hint bool) (_ *conflict.Object, err error) {
	const op = "apply"
	defer t.observe(peer, op, time.Now(), &err)
	if obj == nil {
		return nil, peerErr(peer, op, errors.New("nil object"), ErrInvalidArgument)
	}
	b := obj.Marshal()
	msg := &quorumkvv1.ReplicaOp{Op: &quorumkvv1.ReplicaOp_Apply{Apply: &quorumkvv1.ApplyOp{Key: bytes.Clone(key), Object: b, Hint: hint}}}
	r, err := t.do(ctx, peer, op, msg, len(key)+len(b))
	if err != nil {
		return nil, err
	}
	switch res := r.GetResult().(type) {
	case *quorumkvv1.ReplicaReply_Apply:
		o, err := conflict.DecodeObject(res.Apply.GetObject())
		if err != nil {
			// Applied, but what the peer holds now is unknown.
			return nil, peerErr(peer, op, fmt.Errorf("reply: %w", err), ErrIndeterminate)
		}
		return o, nil
	case *quorumkvv1.ReplicaReply_Error:
		return nil, peerErr(peer, op, remoteError(res.Error))
	}
	return nil, peerErr(peer, op, fmt.Errorf("unexpected reply %T", r.GetResult()), ErrIndeterminate)
}

// Read implements Transport.
func (t *GRPCTransport) Read(ctx context.Context, peer string, key []byte) (_ *conflict.Object, _ bool, err error) {
	const op = "read"
	defer t.observe(peer, op, time.Now(), &err)
	msg := &quorumkvv1.ReplicaOp{Op: &quorumkvv1.ReplicaOp_Read{Read: &quorumkvv1.ReadOp{Key: bytes.Clone(key)}}}
	r, err := t.do(ctx, peer, op, msg, len(key))
	if err != nil {
		return nil, false, err
	}
	switch res := r.GetResult().(type) {
	case *quorumkvv1.ReplicaReply_Read:
		if !res.Read.GetFound() {
			return nil, false, nil
		}
		o, err := conflict.DecodeObject(res.Read.GetObject())
		if err != nil {
			return nil, false, peerErr(peer, op, fmt.Errorf("reply: %w", err))
		}
		return o, true, nil
	case *quorumkvv1.ReplicaReply_Error:
		return nil, false, peerErr(peer, op, remoteError(res.Error))
	}
	return nil, false, peerErr(peer, op, fmt.Errorf("unexpected reply %T", r.GetResult()))
}

func remoteError(e *quorumkvv1.ReplicaError) *RemoteError {
	return &RemoteError{Code: codes.Code(e.GetCode()), Message: e.GetMessage(), ClockOffset: e.GetClockOffset()}
}

// Close implements Transport.
func (t *GRPCTransport) Close() error {
	t.mu.Lock()
	t.shutdown = true
	t.mu.Unlock()
	t.closed.Store(true)
	t.cancel()
	t.wg.Wait()
	return nil
}

// do sends msg to peer and waits for its reply.
func (t *GRPCTransport) do(ctx context.Context, peer, op string, msg *quorumkvv1.ReplicaOp, size int) (*quorumkvv1.ReplicaReply, error) {
	if t.closed.Load() {
		return nil, peerErr(peer, op, nil, ErrTransportClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, peerErr(peer, op, err)
	}
	p, err := t.peer(peer)
	if err != nil {
		return nil, peerErr(peer, op, err)
	}
	s := p.pick()
	c := &grpcCall{msg: msg, size: size, res: make(chan grpcResult, 1)}
	if kind, cause := s.enqueue(c); kind != nil { //nolint:contextcheck // a stream outlives the request that opens it
		return nil, peerErr(peer, op, cause, kind)
	}
	var r grpcResult
	select {
	case r = <-c.res:
	case <-ctx.Done():
		if c.state.CompareAndSwap(callQueued, callAbandoned) {
			return nil, peerErr(peer, op, ctx.Err())
		}
		select {
		case r = <-c.res:
		default:
			s.forget(c)
			return nil, peerErr(peer, op, ctx.Err(), maybeApplied(op))
		}
	}
	if r.kind != nil {
		var ind error
		if r.sent {
			ind = maybeApplied(op)
		}
		return nil, peerErr(peer, op, r.cause, r.kind, ind)
	}
	return r.reply, nil
}

// maybeApplied returns ErrIndeterminate for an operation that changes the
// peer, nil for a read.
func maybeApplied(op string) error {
	if op == "read" {
		return nil
	}
	return ErrIndeterminate
}

// peer returns the connection state of peer, created at first use.
func (t *GRPCTransport) peer(id string) (*grpcPeer, error) {
	if p, ok := t.peers.Load(id); ok {
		return p.(*grpcPeer), nil
	}
	if _, ok := t.resolver.Resolve(id); !ok {
		return nil, ErrPeerUnknown
	}
	p := &grpcPeer{slots: make([]*grpcSlot, t.cfg.StreamsPerPeer)}
	for i := range p.slots {
		p.slots[i] = &grpcSlot{t: t, peer: id, counters: &p.counters, lane: i, pending: map[uint64]*grpcCall{}, wake: make(chan struct{}, 1)}
	}
	got, _ := t.peers.LoadOrStore(id, p)
	return got.(*grpcPeer), nil
}

// goSession starts s.run unless the transport is closed.
func (t *GRPCTransport) goSession(s *grpcSlot) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shutdown {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		s.run()
	}()
	return true
}

// grpcPeer is the streams to one peer.
type grpcPeer struct {
	slots    []*grpcSlot
	next     atomic.Uint32
	counters peerCounters
}

// pick returns the slot for the next request: the next one round robin
// whose stream is up, or the next one.
func (p *grpcPeer) pick() *grpcSlot {
	n := uint32(len(p.slots))
	if n == 1 {
		return p.slots[0]
	}
	i := p.next.Add(1)
	for k := range n {
		if s := p.slots[(i+k)%n]; s.up.Load() {
			return s
		}
	}
	return p.slots[i%n]
}

// Call states; a call leaves callQueued once, by compare-and-swap, to be
// sent, abandoned by its caller, or failed with its stream.
const (
	callQueued uint32 = iota
	callSent
	callAbandoned
	callFailed
)

// grpcCall is one request waiting for its reply.
type grpcCall struct {
	msg   *quorumkvv1.ReplicaOp // owned by the slot once queued
	size  int
	id    uint64    // set when sent, under the slot's mutex
	sent  time.Time // the wall time it was taken for sending, likewise
	state atomic.Uint32
	res   chan grpcResult // receives exactly one result, never blocks
}

// grpcResult is a reply, or why there is none: kind (ErrPeerUnreachable or
// ErrTransportClosed) and cause; sent says whether the operation had been
// sent.
type grpcResult struct {
	reply *quorumkvv1.ReplicaReply
	kind  error
	cause error
	sent  bool
}

// Slot states.
const (
	slotIdle       = iota // no stream; retryAt says when one may be opened
	slotConnecting        // a session is opening the stream
	slotUp                // the stream is open
)

// grpcSlot is one stream to a peer, opened by a session (run) when a
// request needs it, and the requests queued for it or waiting on it.
type grpcSlot struct {
	t        *GRPCTransport
	peer     string
	counters *peerCounters // its peer's
	lane     int           // its connection in the PeerConns
	wake     chan struct{} // tells the sender there is something queued
	up       atomic.Bool   // state == slotUp, read without the mutex

	mu       sync.Mutex
	state    int
	queue    []*grpcCall          // not sent yet
	pending  map[uint64]*grpcCall // sent, waiting for the reply
	nextID   uint64
	opened   bool      // a stream has been open before (the next is a reconnect)
	failures int       // consecutive failures to open a working stream
	retryAt  time.Time // while idle, no stream is opened before
	lastErr  error
}

// enqueue queues c for sending, opening the stream if it is not open and
// its backoff has passed. It returns the kind of error and its cause when
// c cannot be sent.
func (s *grpcSlot) enqueue(c *grpcCall) (kind, cause error) {
	s.mu.Lock()
	if s.state == slotIdle {
		if now := s.t.cfg.Clock.Now(); now.Before(s.retryAt) {
			err := fmt.Errorf("%w (retrying in %v)", s.lastErr, s.retryAt.Sub(now).Round(time.Millisecond))
			s.mu.Unlock()
			return ErrPeerUnreachable, err
		}
		if !s.t.goSession(s) {
			s.mu.Unlock()
			return ErrTransportClosed, nil
		}
		s.state = slotConnecting
	}
	s.queue = append(s.queue, c)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil, nil
}

// forget drops c, sent and then abandoned by its caller, so that a peer
// that never answers does not leave it behind.
func (s *grpcSlot) forget(c *grpcCall) {
	s.mu.Lock()
	if s.pending[c.id] == c {
		delete(s.pending, c.id)
	}
	s.mu.Unlock()
}

// run is a session: it opens the stream, sends what is queued until the
// stream fails or the transport closes, then fails what is left.
func (s *grpcSlot) run() {
	cc, addr, err := s.t.conns.lane(s.peer, s.lane)
	switch {
	case errors.Is(err, ErrPeerUnknown):
		s.fail(ErrPeerUnknown, false)
		return
	case err != nil:
		s.fail(err, false)
		return
	}
	if cc.GetState() == connectivity.TransientFailure {
		// This stream's backoff has passed: try now rather than wait for
		// gRPC's own, as a fresh connection would.
		cc.ResetConnectBackoff()
	}
	ctx, cancel := context.WithCancel(s.t.ctx)
	defer cancel()

	timer := time.AfterFunc(s.t.cfg.ConnectTimeout, cancel)
	stream, err := quorumkvv1.NewReplicaClient(cc).Exchange(ctx)
	if !timer.Stop() && s.t.ctx.Err() == nil {
		err = fmt.Errorf("no stream within %v", s.t.cfg.ConnectTimeout)
	}
	if err != nil {
		s.fail(fmt.Errorf("connect %s: %w", addr, err), false)
		return
	}
	s.mu.Lock()
	s.state = slotUp
	s.up.Store(true)
	if s.opened {
		s.counters.reconnects.Add(1)
	}
	s.opened = true
	s.mu.Unlock()

	var healthy atomic.Bool
	recvErr := make(chan error, 1)
	go func() { // owned by run, which waits for it below
		err := s.receive(stream, &healthy)
		cancel()
		recvErr <- err
	}()
	sendErr := s.send(ctx, stream)
	cancel()
	err = streamError(<-recvErr, sendErr)
	s.fail(fmt.Errorf("stream to %s: %w", addr, err), healthy.Load())
}

// streamError picks the more telling of a stream's receive and send
// errors: the receiver's carries the status the stream ended with.
func streamError(recv, send error) error {
	switch {
	case recv == nil || errors.Is(recv, context.Canceled) || status.Code(recv) == codes.Canceled:
		if send != nil && !errors.Is(send, io.EOF) {
			return send
		}
	case errors.Is(recv, io.EOF):
		return errors.New("closed by the peer")
	}
	if recv == nil {
		return errors.New("closed")
	}
	return recv
}

// send writes batches of queued calls to stream until ctx is done or a
// write fails.
func (s *grpcSlot) send(ctx context.Context, stream quorumkvv1.Replica_ExchangeClient) error {
	batch := &quorumkvv1.ReplicaBatch{}
	for {
		batch.Ops = s.take(batch.Ops[:0])
		if len(batch.Ops) == 0 {
			select {
			case <-s.wake:
				// Woken by the first request, let the goroutines made
				// runnable with it (callers answered by one reply batch)
				// queue theirs too: no wait, just a turn of the scheduler,
				// which would otherwise run the sender before them.
				runtime.Gosched()
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := stream.Send(batch); err != nil {
			return err
		}
		clear(batch.Ops)
	}
}

// take moves queued calls, as many as one batch holds, to pending and
// appends their operations to ops. Calls abandoned by their caller are
// dropped unsent.
func (s *grpcSlot) take(ops []*quorumkvv1.ReplicaOp) []*quorumkvv1.ReplicaOp {
	s.mu.Lock()
	defer s.mu.Unlock()
	size, n := 0, 0
	for _, c := range s.queue {
		if len(ops) == s.t.cfg.MaxBatch || (len(ops) > 0 && size+c.size > s.t.cfg.MaxBatchBytes) {
			break
		}
		n++
		if !c.state.CompareAndSwap(callQueued, callSent) {
			continue
		}
		s.nextID++
		c.id = s.nextID
		c.sent = s.t.cfg.Clock.Now()
		c.msg.Id = c.id
		s.pending[c.id] = c
		size += c.size
		ops = append(ops, c.msg)
	}
	rest := copy(s.queue, s.queue[n:])
	clear(s.queue[rest:])
	s.queue = s.queue[:rest]
	return ops
}

// receive hands the replies read from stream to their callers until the
// stream fails. healthy is set at the first reply.
func (s *grpcSlot) receive(stream quorumkvv1.Replica_ExchangeClient, healthy *atomic.Bool) error {
	var calls []*grpcCall
	for {
		b, err := stream.Recv()
		if err != nil {
			return err
		}
		healthy.Store(true)
		calls = calls[:0]
		s.mu.Lock()
		for _, r := range b.GetReplies() {
			c, ok := s.pending[r.GetId()]
			if !ok {
				calls = append(calls, nil) // abandoned: the late reply is dropped
				continue
			}
			delete(s.pending, r.GetId())
			calls = append(calls, c)
		}
		s.mu.Unlock()
		s.observeClock(b.GetWallNanos(), calls)
		for i, r := range b.GetReplies() {
			if c := calls[i]; c != nil {
				c.res <- grpcResult{reply: r}
			}
		}
		clear(calls)
	}
}

// observeClock hands OnPeerClock the peer's wall time and the round trip
// of the latest request the batch answers (the shortest bound on when the
// peer read its clock).
func (s *grpcSlot) observeClock(wallNanos int64, calls []*grpcCall) {
	if wallNanos == 0 || s.t.cfg.OnPeerClock == nil {
		return
	}
	var sent time.Time
	for _, c := range calls {
		if c != nil && c.sent.After(sent) {
			sent = c.sent
		}
	}
	if !sent.IsZero() {
		s.t.cfg.OnPeerClock(s.peer, time.Unix(0, wallNanos), sent, s.t.cfg.Clock.Now())
	}
}

// fail ends the slot's session: every call queued or pending fails with
// cause, and the slot goes idle, to be reopened at once when the stream had
// been working (healthy), after a backoff otherwise.
func (s *grpcSlot) fail(cause error, healthy bool) {
	closing := s.t.ctx.Err() != nil
	kind := ErrPeerUnreachable
	if closing {
		kind, cause = ErrTransportClosed, nil
	}
	s.mu.Lock()
	s.state = slotIdle
	s.up.Store(false)
	s.lastErr = cause
	var wait time.Duration
	if healthy {
		s.failures = 0
		s.retryAt = time.Time{}
	} else if !closing {
		s.failures++
		wait = backoffFor(s.t.cfg.MinBackoff, s.t.cfg.MaxBackoff, s.failures)
		s.retryAt = s.t.cfg.Clock.Now().Add(wait)
	}
	queue, pending := s.queue, s.pending
	s.queue, s.pending = nil, map[uint64]*grpcCall{}
	failures := s.failures
	s.mu.Unlock()

	// One line per peer and interval, with the count of those held back:
	// a peer down logs neither per request nor per retry.
	switch {
	case closing:
	case healthy:
		s.t.logLimit.Log(context.Background(), s.t.cfg.Logger, slog.LevelInfo, "lost "+s.peer, "replica stream to peer lost; reopening at the next request", "peer", s.peer, "err", cause)
	default:
		s.t.logLimit.Log(context.Background(), s.t.cfg.Logger, slog.LevelWarn, "unreachable "+s.peer, "cannot reach peer", "peer", s.peer, "err", cause, "retry_in", wait, "failures", failures)
	}
	for _, c := range queue {
		if c.state.CompareAndSwap(callQueued, callFailed) {
			c.res <- grpcResult{kind: kind, cause: cause}
		}
	}
	for _, c := range pending {
		c.res <- grpcResult{kind: kind, cause: cause, sent: true}
	}
}

// backoffFor returns the wait after the n-th consecutive failure (n >= 1):
// min doubled n-1 times, capped at max, within ±20%.
func backoffFor(minWait, maxWait time.Duration, n int) time.Duration {
	d := minWait
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
