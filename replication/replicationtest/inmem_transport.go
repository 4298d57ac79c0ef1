package replicationtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
)

// InmemNetwork connects in-process replicas by node id: each node gets a
// replication.Transport (Transport) whose requests reach the other nodes'
// replicas directly, through faults the test injects. Objects cross it
// encoded and decoded, as on the wire, so nodes never share memory.
//
// A request from one node to another is decided when it is sent:
//
//   - to an id never added or removed since: replication.ErrPeerUnknown;
//   - from or to a node that is down, or across a cut from -> to: it is not
//     sent, and fails at once with replication.ErrPeerUnreachable;
//   - dropped (DropRequests): likewise, not sent, ErrPeerUnreachable;
//   - otherwise it is delivered after the delay of from -> to (SetDelay; a
//     caller giving up during it fails with its ctx error, nothing sent).
//
// The peer then handles it in a goroutine of the sender's transport, on a
// context that ends when that transport is closed, not the caller's. Its
// reply travels back after the delay of to -> from, and is lost, so that
// the caller fails with replication.ErrIndeterminate (a read with
// ErrPeerUnreachable) although the peer applied the operation, when the
// reverse link is cut or a node went down meanwhile, or when
// DropRepliesAfterApply is set for from -> to. A caller whose ctx ends
// after delivery fails with its ctx error and ErrIndeterminate. An error of
// the peer's replica arrives as a *replication.RemoteError made by
// replication.NewRemoteError, as over gRPC.
//
// Random choices (DropRequests) come from a generator seeded by
// NewInmemNetwork, so a sequential test replays exactly. Safe for
// concurrent use.
type InmemNetwork struct {
	mu        sync.Mutex
	rng       *rand.Rand
	nodes     map[string]replication.Replica
	down      map[string]bool
	cut       map[link]bool
	delay     map[link]time.Duration
	drop      map[link]float64
	lose      map[link]bool
	delivered map[link]int
}

// link is a direction between two nodes.
type link struct{ from, to string }

// NewInmemNetwork returns a network without nodes or faults whose random
// choices come from seed.
func NewInmemNetwork(seed uint64) *InmemNetwork {
	return &InmemNetwork{
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes:     map[string]replication.Replica{},
		down:      map[string]bool{},
		cut:       map[link]bool{},
		delay:     map[link]time.Duration{},
		drop:      map[link]float64{},
		lose:      map[link]bool{},
		delivered: map[link]int{},
	}
}

// Add connects the replica of node id, replacing any earlier one (a
// restarted node).
func (n *InmemNetwork) Add(id string, r replication.Replica) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nodes[id] = r
}

// Remove disconnects node id: requests to it fail with ErrPeerUnknown.
func (n *InmemNetwork) Remove(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.nodes, id)
}

// Down makes node id unreachable from and to every node, as a crashed or
// paused node; Up undoes it.
func (n *InmemNetwork) Down(id string) { n.set(func() { n.down[id] = true }) }

// Up makes node id reachable again.
func (n *InmemNetwork) Up(id string) { n.set(func() { delete(n.down, id) }) }

// Partition cuts a and b apart, both ways.
func (n *InmemNetwork) Partition(a, b string) {
	n.set(func() { n.cut[link{a, b}], n.cut[link{b, a}] = true, true })
}

// Heal removes the cuts between a and b, both ways.
func (n *InmemNetwork) Heal(a, b string) {
	n.set(func() { delete(n.cut, link{a, b}); delete(n.cut, link{b, a}) })
}

// HealAll removes every cut (other faults stay: see ClearFaults).
func (n *InmemNetwork) HealAll() { n.set(func() { clear(n.cut) }) }

// Cut cuts the link from -> to only: requests from -> to are not sent, and
// replies from -> to (to requests of to) are lost after the operation was
// applied.
func (n *InmemNetwork) Cut(from, to string) { n.set(func() { n.cut[link{from, to}] = true }) }

// SetDelay delays every message from -> to (requests of from, replies to
// to's requests) by d; zero removes the delay.
func (n *InmemNetwork) SetDelay(from, to string, d time.Duration) {
	n.set(func() {
		if d <= 0 {
			delete(n.delay, link{from, to})
		} else {
			n.delay[link{from, to}] = d
		}
	})
}

// DropRequests makes each request from -> to fail unsent, with
// ErrPeerUnreachable, with probability p (0 removes the fault, 1 drops
// all).
func (n *InmemNetwork) DropRequests(from, to string, p float64) {
	n.set(func() {
		if p <= 0 {
			delete(n.drop, link{from, to})
		} else {
			n.drop[link{from, to}] = p
		}
	})
}

// DropRepliesAfterApply makes, when on, each request from -> to reach the
// peer, which applies it, while its reply is lost: the caller fails with
// ErrIndeterminate (a read with ErrPeerUnreachable).
func (n *InmemNetwork) DropRepliesAfterApply(from, to string, on bool) {
	n.set(func() {
		if on {
			n.lose[link{from, to}] = true
		} else {
			delete(n.lose, link{from, to})
		}
	})
}

// ClearFaults removes every fault: cuts, downs, delays, drops and lost
// replies.
func (n *InmemNetwork) ClearFaults() {
	n.set(func() {
		clear(n.cut)
		clear(n.down)
		clear(n.delay)
		clear(n.drop)
		clear(n.lose)
	})
}

// Delivered returns how many requests from -> to reached the peer's
// replica.
func (n *InmemNetwork) Delivered(from, to string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.delivered[link{from, to}]
}

func (n *InmemNetwork) set(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f()
}

// Transport returns a new transport for node self. Close it when done: it
// waits for the operations it delivered.
func (n *InmemNetwork) Transport(self string) *InmemTransport {
	ctx, cancel := context.WithCancel(context.Background())
	return &InmemTransport{net: n, self: self, ctx: ctx, cancel: cancel}
}

// InmemTransport is one node's replication.Transport on an InmemNetwork.
type InmemTransport struct {
	net    *InmemNetwork
	self   string
	ctx    context.Context // the peers' handling context, done on Close
	cancel context.CancelFunc
	closed atomic.Bool

	mu       sync.Mutex // orders wg.Add against Close
	shutdown bool
	wg       sync.WaitGroup
}

var _ replication.Transport = (*InmemTransport)(nil)

// Close implements replication.Transport.
func (t *InmemTransport) Close() error {
	t.mu.Lock()
	t.shutdown = true
	t.mu.Unlock()
	t.closed.Store(true)
	t.cancel()
	t.wg.Wait()
	return nil
}

// inmemReply is the outcome of a delivered request.
type inmemReply struct {
	obj   []byte // encoded
	found bool
	err   error // from the peer's replica
	lost  bool
}

// Apply implements replication.Transport.
func (t *InmemTransport) Apply(ctx context.Context, peer string, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error) {
	if obj == nil {
		return nil, fmt.Errorf("apply on peer %s: %w: nil object", peer, replication.ErrInvalidArgument)
	}
	enc := obj.Marshal()
	r, err := t.send(ctx, peer, "apply", key, func(ctx context.Context, rep replication.Replica, key []byte) inmemReply {
		o, err := conflict.DecodeObject(enc)
		if err != nil {
			return inmemReply{err: &replication.RemoteError{Code: codes.InvalidArgument, Message: "apply: " + err.Error()}}
		}
		merged, err := rep.ApplyReplica(ctx, key, o, hint)
		switch {
		case err != nil:
			return inmemReply{err: err}
		case merged == nil:
			return inmemReply{err: &replication.RemoteError{Code: codes.Internal, Message: "apply: the replica returned no object"}}
		}
		return inmemReply{obj: merged.Marshal()}
	})
	if err != nil {
		return nil, err
	}
	o, err := conflict.DecodeObject(r.obj)
	if err != nil {
		return nil, fmt.Errorf("apply on peer %s: %w: reply: %w", peer, replication.ErrIndeterminate, err)
	}
	return o, nil
}

// Read implements replication.Transport.
func (t *InmemTransport) Read(ctx context.Context, peer string, key []byte) (*conflict.Object, bool, error) {
	r, err := t.send(ctx, peer, "read", key, func(ctx context.Context, rep replication.Replica, key []byte) inmemReply {
		o, found, err := rep.ReadReplica(ctx, key)
		if err != nil {
			return inmemReply{err: err}
		}
		if !found || o == nil {
			return inmemReply{}
		}
		return inmemReply{obj: o.Marshal(), found: true}
	})
	if err != nil || !r.found {
		return nil, false, err
	}
	o, err := conflict.DecodeObject(r.obj)
	if err != nil {
		return nil, false, fmt.Errorf("read on peer %s: reply: %w", peer, err)
	}
	return o, true, nil
}

// send delivers one request to peer through the network's faults; handle
// runs on the peer's side.
func (t *InmemTransport) send(ctx context.Context, peer, op string, key []byte,
	handle func(ctx context.Context, rep replication.Replica, key []byte) inmemReply,
) (inmemReply, error) {
	fail := func(errs ...error) (inmemReply, error) {
		return inmemReply{}, requestError(op, peer, errs...)
	}
	if t.closed.Load() {
		return fail(replication.ErrTransportClosed)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	rep, delay, err := t.net.route(t.self, peer)
	if err != nil {
		return fail(err)
	}
	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return fail(ctx.Err())
		case <-t.ctx.Done():
			timer.Stop()
			return fail(replication.ErrTransportClosed)
		}
	}
	t.mu.Lock()
	if t.shutdown {
		t.mu.Unlock()
		return fail(replication.ErrTransportClosed)
	}
	t.wg.Add(1)
	t.mu.Unlock()
	done := make(chan inmemReply, 1)
	key = bytes.Clone(key)
	go func() {
		defer t.wg.Done()
		t.net.count(t.self, peer)
		r := handle(t.ctx, rep, key)
		lost, back := t.net.replyRoute(t.self, peer)
		if back > 0 && !lost {
			timer := time.NewTimer(back)
			select {
			case <-timer.C:
			case <-t.ctx.Done():
				timer.Stop()
				lost = true
			}
		}
		r.lost = lost
		done <- r
	}()

	indeterminate := replication.ErrIndeterminate
	if op == "read" {
		indeterminate = replication.ErrPeerUnreachable
	}
	select {
	case r := <-done:
		switch {
		case r.lost:
			return fail(indeterminate, errReplyLost)
		case r.err != nil:
			return fail(replication.NewRemoteError(r.err))
		}
		return r, nil
	case <-ctx.Done():
		if op == "read" {
			return fail(ctx.Err())
		}
		return fail(replication.ErrIndeterminate, ctx.Err())
	case <-t.ctx.Done():
		if op == "read" {
			return fail(replication.ErrTransportClosed)
		}
		return fail(replication.ErrTransportClosed, replication.ErrIndeterminate)
	}
}

// route decides the fate of a request from -> to: the peer's replica and
// the delay before it arrives, or why it is not sent.
func (n *InmemNetwork) route(from, to string) (replication.Replica, time.Duration, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rep, ok := n.nodes[to]
	l := link{from, to}
	switch {
	case !ok:
		return nil, 0, replication.ErrPeerUnknown
	case n.down[to]:
		return nil, 0, fmt.Errorf("%w: %s is down", replication.ErrPeerUnreachable, to)
	case n.down[from]:
		return nil, 0, fmt.Errorf("%w: %s is down", replication.ErrPeerUnreachable, from)
	case n.cut[l]:
		return nil, 0, fmt.Errorf("%w: %s -> %s is cut", replication.ErrPeerUnreachable, from, to)
	}
	if p := n.drop[l]; p > 0 && n.rng.Float64() < p {
		return nil, 0, fmt.Errorf("%w: request dropped", replication.ErrPeerUnreachable)
	}
	return rep, n.delay[l], nil
}

// replyRoute decides the fate of the reply to a request from -> to: lost,
// or delayed by the returned duration.
func (n *InmemNetwork) replyRoute(from, to string) (lost bool, delay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lose[link{from, to}] || n.cut[link{to, from}] || n.down[from] || n.down[to] {
		return true, 0
	}
	return false, n.delay[link{to, from}]
}

func (n *InmemNetwork) count(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delivered[link{from, to}]++
}

// errReplyLost is the cause of a failure whose reply was lost.
var errReplyLost = errors.New("reply lost")

// inmemError is the error of a request: it matches each of errs and reads
// as "op on peer P: err: err...", as the gRPC transport's errors do.
type inmemError struct {
	msg  string
	errs []error
}

func (e *inmemError) Error() string   { return e.msg }
func (e *inmemError) Unwrap() []error { return e.errs }

func requestError(op, peer string, errs ...error) error {
	parts := []string{op + " on peer " + peer}
	for _, err := range errs {
		parts = append(parts, err.Error())
	}
	return &inmemError{msg: strings.Join(parts, ": "), errs: errs}
}
