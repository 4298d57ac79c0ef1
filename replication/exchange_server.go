package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// ServerOptions are the gRPC server options the Replica service needs: the
// message size limits of MaxMessageBytes.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes)}
}

// ExchangeServer serves Exchange, the batched replica stream of the
// node-to-node Replica gRPC service, over the node's local Replica: the
// server end of GRPCTransport. It serves no other RPC of the service: node
// composes it with antientropy's MerkleService and PartitionStreamer (and
// its own Join) into the one Replica server it registers; the embedded
// UnimplementedReplicaServer only completes the interface.
//
// Register it (or the composite) with quorumkvv1.RegisterReplicaServer on a
// server built with ServerOptions. Call Close before the server's
// GracefulStop: Exchange streams last as long as their callers keep them,
// so GracefulStop alone would wait for them.
type ExchangeServer struct {
	quorumkvv1.UnimplementedReplicaServer

	local         Replica
	maxInFlight   int
	maxBatchBytes int
	log           *slog.Logger
	codeOf        func(error) (codes.Code, bool)
	wall          Clock // nil: replies carry no wall time

	mu      sync.Mutex // orders wg.Add against Close
	closing bool
	quit    chan struct{} // closed by Close
	wg      sync.WaitGroup
}

var _ quorumkvv1.ReplicaServer = (*ExchangeServer)(nil)

// ExchangeServerConfig holds the settings of an ExchangeServer.
type ExchangeServerConfig struct {
	// MaxInFlight bounds the operations of one Exchange stream handled at
	// once; reading from the stream waits when it is reached, so a caller
	// that sends faster than the replica applies is slowed down by gRPC flow
	// control. Zero means 64.
	MaxInFlight int
	// MaxBatchBytes bounds the objects of the replies written in one batch
	// (a larger reply goes alone). Zero means 4 MiB.
	MaxBatchBytes int
	// ErrorCodes translates errors of the local replica to gRPC codes,
	// consulted before the built-in table (NewRemoteError); ok false falls
	// through to it. Nil: the built-in table only.
	ErrorCodes func(err error) (code codes.Code, ok bool)
	// Logger receives stream failures (debug). Nil discards them.
	Logger *slog.Logger
	// Wall, when set, is the node's wall clock: every reply batch carries
	// its time, so callers estimate this node's clock offset (DESIGN.md,
	// Clocks). Nil: replies carry none.
	Wall Clock
}

// DefaultExchangeServerConfig returns a configuration with every default
// set.
func DefaultExchangeServerConfig() ExchangeServerConfig {
	return ExchangeServerConfig{MaxInFlight: 64, MaxBatchBytes: 4 << 20}
}

// Validate reports the first unusable setting.
func (c ExchangeServerConfig) Validate() error {
	switch {
	case c.MaxInFlight < 0:
		return fmt.Errorf("exchange server: max in flight is %d: must not be negative", c.MaxInFlight)
	case c.MaxBatchBytes < 0:
		return fmt.Errorf("exchange server: max batch bytes is %d: must not be negative", c.MaxBatchBytes)
	}
	return nil
}

func (c ExchangeServerConfig) withDefaults() ExchangeServerConfig {
	d := DefaultExchangeServerConfig()
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = d.MaxBatchBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// NewExchangeServer returns the Exchange server of a node serving local.
func NewExchangeServer(cfg ExchangeServerConfig, local Replica) (*ExchangeServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if local == nil {
		return nil, errors.New("exchange server: local replica is required")
	}
	cfg = cfg.withDefaults()
	return &ExchangeServer{
		local:         local,
		maxInFlight:   cfg.MaxInFlight,
		maxBatchBytes: cfg.MaxBatchBytes,
		log:           cfg.Logger,
		codeOf:        cfg.ErrorCodes,
		wall:          cfg.Wall,
		quit:          make(chan struct{}),
	}, nil
}

// Close ends every Exchange stream once the operations it is handling have
// been answered (operations still unread are left unanswered, and the
// callers treat them as failed), and refuses new streams with Unavailable.
// It returns when every goroutine of the streams has exited. It is
// idempotent; the node calls it at shutdown.
func (s *ExchangeServer) Close() {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.quit)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// errServiceClosing ends the streams of a closed service.
var errServiceClosing = status.Error(codes.Unavailable, "replica service shutting down")

// Exchange implements quorumkvv1.ReplicaServer: it handles the operations of
// each batch read concurrently, up to the in-flight bound, and writes their
// replies as they complete, together when several are ready. It returns
// when the caller closes its side (after answering every operation), when
// the stream fails, or when the service is closed.
func (s *ExchangeServer) Exchange(stream quorumkvv1.Replica_ExchangeServer) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errServiceClosing
	}
	s.wg.Add(2) // this call and its reader
	s.mu.Unlock()
	defer s.wg.Done()

	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	x := &exchange{
		s:       s,
		stream:  stream,
		ctx:     ctx,
		cancel:  cancel,
		work:    make(chan *quorumkvv1.ReplicaOp),
		stop:    make(chan struct{}),
		replies: make(chan *quorumkvv1.ReplicaReply, s.maxInFlight),
	}
	// The reader blocks in Recv until the stream ends, which may be after
	// this call returns (on Close): the service owns it and Close waits
	// for it.
	readDone := make(chan error, 1)
	go func() {
		defer s.wg.Done()
		readDone <- x.read()
	}()
	writeDone := make(chan error, 1)
	go func() { writeDone <- x.write() }() // owned here: waited for below

	var err, werr error
	wrote := false
	select {
	case err = <-readDone:
	case werr = <-writeDone:
		wrote = true
	case <-s.quit:
		err = errServiceClosing
	}
	x.stopWorkers()
	close(x.replies)
	if !wrote {
		werr = <-writeDone
	}
	if err == nil && werr != nil {
		err = werr
	}
	if err != nil && !errors.Is(err, errServiceClosing) && status.Code(err) != codes.Canceled {
		s.log.Debug("replica stream ended", "err", err)
	}
	return err
}

// exchange is the state of one Exchange stream.
type exchange struct {
	s       *ExchangeServer
	stream  quorumkvv1.Replica_ExchangeServer
	ctx     context.Context
	cancel  context.CancelFunc
	work    chan *quorumkvv1.ReplicaOp    // from the reader to idle workers
	stop    chan struct{}                 // closed when the exchange stops
	replies chan *quorumkvv1.ReplicaReply // from workers to the writer

	mu      sync.Mutex // orders workers.Add against stopWorkers
	stopped bool
	nworker int // workers started, at most maxInFlight
	workers sync.WaitGroup
}

// read hands the operations read from the stream to workers until the
// stream ends (nil when the caller closed its side) or the exchange stops.
func (x *exchange) read() error {
	for {
		b, err := x.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, op := range b.GetOps() {
			if err := x.dispatch(op); err != nil {
				return err
			}
		}
	}
}

// dispatch hands op to an idle worker, starting one if none is idle and
// fewer than maxInFlight run, or else waits for one to be idle.
func (x *exchange) dispatch(op *quorumkvv1.ReplicaOp) error {
	select {
	case x.work <- op:
		return nil
	default:
	}
	x.mu.Lock()
	if x.stopped {
		x.mu.Unlock()
		return errServiceClosing
	}
	if x.nworker < x.s.maxInFlight {
		x.nworker++
		x.workers.Add(1)
		x.mu.Unlock()
		go x.worker(op)
		return nil
	}
	x.mu.Unlock()
	select {
	case x.work <- op:
		return nil
	case <-x.stop:
		return errServiceClosing
	case <-x.ctx.Done():
		return x.ctx.Err()
	}
}

// stopWorkers lets no further operation start and waits for the workers
// to finish the ones they hold. Operations are handed over unbuffered, so
// every one dispatched is held by a worker.
func (x *exchange) stopWorkers() {
	x.mu.Lock()
	x.stopped = true
	x.mu.Unlock()
	close(x.stop)
	x.workers.Wait()
}

// worker serves op, then the operations handed to it, until the exchange
// stops. Workers live as long as their stream, so their stacks, grown by
// the first operations, are reused.
func (x *exchange) worker(op *quorumkvv1.ReplicaOp) {
	defer x.workers.Done()
	for {
		r := x.s.serve(x.ctx, op)
		select {
		case x.replies <- r:
		case <-x.ctx.Done(): // the stream is gone: nobody to answer
		}
		select {
		case op = <-x.work:
		case <-x.stop:
			return
		}
	}
}

// write sends the workers' replies, as many in one batch as are ready,
// until replies is closed or a send fails.
func (x *exchange) write() error {
	batch := &quorumkvv1.ReplicaReplyBatch{}
	for r := range x.replies {
		batch.Replies = append(batch.Replies[:0], r)
		size, open := replySize(r), true
	drain:
		for open && size < x.s.maxBatchBytes {
			select {
			case r, ok := <-x.replies:
				if !ok {
					open = false
					break drain
				}
				batch.Replies = append(batch.Replies, r)
				size += replySize(r)
			default:
				break drain
			}
		}
		if x.s.wall != nil {
			batch.WallNanos = x.s.wall.Now().UnixNano()
		}
		if err := x.stream.Send(batch); err != nil {
			x.cancel()
			return err
		}
		clear(batch.Replies)
		if !open {
			return nil
		}
	}
	return nil
}

func replySize(r *quorumkvv1.ReplicaReply) int {
	return len(r.GetApply().GetObject()) + len(r.GetRead().GetObject())
}

// serve runs one operation on the local replica and returns its reply. It
// never panics on what a peer sends.
func (s *ExchangeServer) serve(ctx context.Context, op *quorumkvv1.ReplicaOp) *quorumkvv1.ReplicaReply {
	id := op.GetId()
	switch o := op.GetOp().(type) {
	case *quorumkvv1.ReplicaOp_Apply:
		key := o.Apply.GetKey()
		if len(key) == 0 {
			return errorReply(id, codes.InvalidArgument, "apply: key is empty")
		}
		obj, err := conflict.DecodeObject(o.Apply.GetObject())
		if err != nil {
			return errorReply(id, codes.InvalidArgument, "apply: "+err.Error())
		}
		merged, err := s.local.ApplyReplica(ctx, key, obj, o.Apply.GetHint())
		if err != nil {
			return s.localErrorReply(id, err)
		}
		if merged == nil {
			return errorReply(id, codes.Internal, "apply: the replica returned no object")
		}
		return &quorumkvv1.ReplicaReply{Id: id, Result: &quorumkvv1.ReplicaReply_Apply{Apply: &quorumkvv1.ApplyResult{Object: merged.Marshal()}}}
	case *quorumkvv1.ReplicaOp_Read:
		key := o.Read.GetKey()
		if len(key) == 0 {
			return errorReply(id, codes.InvalidArgument, "read: key is empty")
		}
		obj, found, err := s.local.ReadReplica(ctx, key)
		if err != nil {
			return s.localErrorReply(id, err)
		}
		res := &quorumkvv1.ReadResult{Found: found && obj != nil}
		if res.Found {
			res.Object = obj.Marshal()
		}
		return &quorumkvv1.ReplicaReply{Id: id, Result: &quorumkvv1.ReplicaReply_Read{Read: res}}
	}
	return errorReply(id, codes.Unimplemented, "unknown replica operation")
}

func errorReply(id uint64, code codes.Code, msg string) *quorumkvv1.ReplicaReply {
	return &quorumkvv1.ReplicaReply{Id: id, Result: &quorumkvv1.ReplicaReply_Error{Error: &quorumkvv1.ReplicaError{Code: uint32(code), Message: msg}}}
}

func (s *ExchangeServer) localErrorReply(id uint64, err error) *quorumkvv1.ReplicaReply {
	if s.codeOf != nil {
		if c, ok := s.codeOf(err); ok {
			return errorReply(id, c, err.Error())
		}
	}
	e := NewRemoteError(err)
	r := errorReply(id, e.Code, e.Message)
	r.GetError().ClockOffset = e.ClockOffset
	return r
}

// NewRemoteError returns the refusal a peer sends for err, an error of its
// local Replica: the gRPC code of the error's kind and its message. It is
// the one translation table of replica errors; in-process transports use it
// to fail as the gRPC one does.
//
//	*RemoteError (a replica forwarding one)      its code
//	context.Canceled, context.DeadlineExceeded   Canceled, DeadlineExceeded
//	ErrWrongType, ErrNotReplicated               FailedPrecondition
//	conflict.ErrClockOffset (also ClockOffset), conflict.ErrCorrupt,
//	ErrInvalidArgument, storage.ErrInvalidArgument,
//	keyspace limits                              InvalidArgument
//	storage.ErrClosed, ErrNotJoined              Unavailable
//	a gRPC status error                          its code
//	anything else                                Internal
func NewRemoteError(err error) *RemoteError {
	if err == nil {
		return nil
	}
	return &RemoteError{Code: errorCode(err), Message: err.Error(), ClockOffset: errors.Is(err, conflict.ErrClockOffset)}
}

func errorCode(err error) codes.Code {
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		return re.Code
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, ErrWrongType), errors.Is(err, ErrNotReplicated):
		return codes.FailedPrecondition
	case errors.Is(err, conflict.ErrClockOffset), errors.Is(err, conflict.ErrCorrupt),
		errors.Is(err, ErrInvalidArgument), errors.Is(err, storage.ErrInvalidArgument),
		errors.Is(err, keyspace.ErrEmptyKey), errors.Is(err, keyspace.ErrKeyTooLarge), errors.Is(err, keyspace.ErrValueTooLarge):
		return codes.InvalidArgument
	case errors.Is(err, storage.ErrClosed), errors.Is(err, ErrNotJoined):
		return codes.Unavailable
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Internal
}
