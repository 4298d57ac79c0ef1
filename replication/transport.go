package replication

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/conflict"
)

// MaxMessageBytes bounds one message of the Replica service either way:
// room for the largest object a cluster may allow (--max-object-bytes is at
// most 64 MiB of values and members) with its dots, contexts and framing. The transport dials with it; the node's gRPC server
// takes it through ServerOptions.
const MaxMessageBytes = 256 << 20

// Transport carries replica operations from a coordinator to its peers.
//
// Implementations are safe for concurrent use by any number of goroutines;
// GRPCTransport is the production one, replicationtest.InmemNetwork gives
// tests one per in-process node, with fault injection.
//
// Every method blocks until the peer answers, the request fails, or ctx is
// done, whichever comes first; a done ctx returns at once (a reply arriving
// later is discarded). Errors say how far a request got:
//
//   - ErrPeerUnknown, ErrTransportClosed, ErrPeerUnreachable alone, or the
//     ctx error alone: the operation was not sent, so the peer did not apply
//     it.
//   - ErrIndeterminate (possibly together with ErrPeerUnreachable or a ctx
//     error): the operation was sent and may or may not have been applied.
//     Callers check it first.
//   - *RemoteError: the peer answered with a refusal; it did not apply the
//     operation.
//
// A ctx error is wrapped, so errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, context.Canceled) hold.
type Transport interface {
	// Apply sends obj for key to peer, which merges it into its copy durably
	// and returns its merged object after fsync. hint marks a hint delivery
	// (the peer counts it apart from a coordinator's write).
	//
	// Called by the coordinator's fan-out, read repair and hint delivery.
	// Apply neither changes nor keeps key and obj after it returns, and it
	// must not be given ones that change while it runs. The caller owns the
	// returned object.
	Apply(ctx context.Context, peer string, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error)
	// Read asks peer for its copy of key; found is false, with a nil object
	// and a nil error, when the peer holds nothing for it (not even a
	// tombstone).
	//
	// Called by the coordinator's reads and read repair. Read does not keep
	// key; the caller owns the returned object.
	Read(ctx context.Context, peer string, key []byte) (obj *conflict.Object, found bool, err error)
	// Close stops the transport: requests in flight fail with
	// ErrTransportClosed or ErrPeerUnreachable, later ones with
	// ErrTransportClosed. It returns once every goroutine the transport
	// started has exited. It is idempotent; called by the transport's owner
	// (the node) after the coordinator has stopped.
	Close() error
}

// Replica is what a node serves to its peers: the local replica. The
// ExchangeServer calls it for every operation a peer sends, concurrently
// (concurrent applies share a storage group commit), so implementations must
// be safe for concurrent use.
type Replica interface {
	// ApplyReplica merges obj into the local copy of key durably and returns
	// the merged object once it is fsync'd. hint is true for a hint
	// delivery. It refuses, with an error matching conflict.ErrClockOffset,
	// an object stamped too far ahead of the local clock. It never refuses a
	// merge for the key's type: merge is a join, and a replica that refused
	// one would diverge; the type check is the coordinator's, before it
	// stamps a write. The implementation owns obj from the call
	// on; the caller owns the result and does not change it.
	ApplyReplica(ctx context.Context, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error)
	// ReadReplica returns the local copy of key; false, with a nil object
	// and error, when there is none. The caller owns the result and does
	// not change it.
	ReadReplica(ctx context.Context, key []byte) (*conflict.Object, bool, error)
}

// Resolver maps a peer id to its gRPC address. The GRPCTransport asks it
// each time it (re)connects to a peer, so a peer that comes back at another
// address is found there. It must be safe for concurrent use and must not
// block (the member table answers from memory).
type Resolver interface {
	// Resolve returns the peer's address (host:port); ok is false when the
	// peer is unknown.
	Resolve(peer string) (addr string, ok bool)
}

// ResolverFunc adapts a function to a Resolver.
type ResolverFunc func(peer string) (string, bool)

// Resolve calls f(peer).
func (f ResolverFunc) Resolve(peer string) (string, bool) { return f(peer) }

// Sentinel errors of the peer transport.
var (
	// ErrPeerUnknown: the resolver does not know the peer. Nothing was sent.
	ErrPeerUnknown = errors.New("peer unknown")
	// ErrPeerUnreachable: no connection or stream to the peer, or the
	// stream failed. Without ErrIndeterminate, nothing was sent; a transport
	// that has just failed to reach a peer fails later requests to it at
	// once, with this error, until its reconnect backoff has passed.
	ErrPeerUnreachable = errors.New("peer unreachable")
	// ErrIndeterminate: the operation was sent but its outcome is unknown
	// (the reply was lost, the stream broke or the caller gave up): it may
	// have been applied.
	ErrIndeterminate = errors.New("outcome unknown: the operation may have been applied")
	// ErrTransportClosed: the transport was closed. Nothing was sent.
	ErrTransportClosed = errors.New("transport closed")
)

// RemoteError is an error a peer returned for one operation, as a gRPC
// status code and message: for example InvalidArgument for an object that
// does not decode or is stamped beyond the peer's clock offset,
// FailedPrecondition for a key of the other type, Unavailable for a peer
// shutting down. The peer did not apply the operation.
type RemoteError struct {
	Code    codes.Code
	Message string
	// ClockOffset is set when the peer refused an object stamped more than
	// its max clock offset ahead of its wall clock: the error then matches
	// conflict.ErrClockOffset.
	ClockOffset bool
}

// Is matches conflict.ErrClockOffset for a clock-offset refusal.
func (e *RemoteError) Is(target error) bool {
	return e.ClockOffset && target == conflict.ErrClockOffset
}

// Error returns the code and the peer's message.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("remote %s: %s", e.Code, e.Message)
}

// peerError is the error of a request to a peer: it matches each of errs
// (the kinds of failure, then the cause) with errors.Is and errors.As.
type peerError struct {
	msg  string
	errs []error
}

func (e *peerError) Error() string   { return e.msg }
func (e *peerError) Unwrap() []error { return e.errs }

// peerErr returns the error of op ("apply" or "read") on peer: it matches
// each of kinds and cause (nil ones are left out) and reads as
// "op on peer P: kind: ...: cause".
func peerErr(peer, op string, cause error, kinds ...error) error {
	e := &peerError{msg: op + " on peer " + peer, errs: make([]error, 0, len(kinds)+1)}
	add := func(err error) {
		if err != nil {
			e.msg += ": " + err.Error()
			e.errs = append(e.errs, err)
		}
	}
	for _, k := range kinds {
		add(k)
	}
	add(cause)
	return e
}
