package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// Client sends requests to a quorumkv cluster through a list of endpoints.
// It is safe for concurrent use.
type Client struct {
	endpoints []string
	conns     []*grpc.ClientConn
	kvs       []quorumkvv1.KVClient
	defaults  callConfig
	router    *router // nil unless WithTokenAware
	dial      []grpc.DialOption
	tls       bool // connections use TLS (WithTLS)

	current   atomic.Int64 // index of the endpoint that answered last
	closeOnce sync.Once
	closeErr  error
}

// New returns a client of the nodes at endpoints (gRPC host:port), tried in
// the order given. It does not connect: the first request connects to the
// first endpoint that answers. It fails (with ErrInvalidArgument) only for
// an empty list or an endpoint that is not host:port (see CheckEndpoint).
// With WithTokenAware it starts fetching the ring table in the background;
// Close stops it.
func New(endpoints []string, opts ...Option) (*Client, error) {
	cfg := clientConfig{call: callConfig{consistency: Quorum, timeout: DefaultTimeout}}
	for _, o := range opts {
		if o != nil {
			o.applyClient(&cfg)
		}
	}
	if cfg.call.consistency == 0 {
		cfg.call.consistency = Quorum
	}
	c := &Client{defaults: cfg.call, tls: cfg.tls}
	for _, ep := range endpoints {
		if ep = strings.TrimSpace(ep); ep != "" {
			c.endpoints = append(c.endpoints, ep)
		}
	}
	if len(c.endpoints) == 0 {
		return nil, &Error{Code: codes.InvalidArgument, Message: "no endpoints given", kind: ErrInvalidArgument}
	}
	for _, ep := range c.endpoints {
		if err := CheckEndpoint(ep); err != nil {
			return nil, &Error{Code: codes.InvalidArgument, Message: "endpoint " + err.Error(), kind: ErrInvalidArgument, cause: err}
		}
	}
	dial := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageBytes),
			grpc.MaxCallSendMsgSize(maxMessageBytes),
		),
	}, cfg.dialOptions...)
	c.dial = dial
	for _, ep := range c.endpoints {
		conn, err := grpc.NewClient(ep, dial...)
		if err != nil {
			_ = c.Close()
			return nil, &Error{Code: codes.InvalidArgument, Message: fmt.Sprintf("endpoint %q: %v", ep, err), kind: ErrInvalidArgument, cause: err}
		}
		c.conns = append(c.conns, conn)
		c.kvs = append(c.kvs, quorumkvv1.NewKVClient(conn))
	}
	if cfg.ringRefresh > 0 {
		eps := make([]*nodeConn, len(c.conns))
		for i, conn := range c.conns {
			eps[i] = &nodeConn{addr: c.endpoints[i], conn: conn, kv: c.kvs[i]}
		}
		c.router = newRouter(cfg.ringRefresh, eps, c.fetchRingTable,
			func(addr string) (*grpc.ClientConn, error) { return grpc.NewClient(addr, dial...) })
	}
	return c, nil
}

// Endpoints returns the endpoints the client was built with (blank entries
// dropped), in order.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Close stops the ring table's refresh (WithTokenAware), waiting for it,
// and closes every connection. Requests in flight fail. It is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		if c.router != nil {
			errs = c.router.stop()
		}
		for _, conn := range c.conns {
			errs = append(errs, conn.Close())
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// callConfig merges the call's options over the client's defaults.
func (c *Client) callConfig(opts []CallOption) callConfig {
	cc := c.defaults
	for _, o := range opts {
		if o != nil {
			o.applyCall(&cc)
		}
	}
	if cc.consistency == 0 {
		cc.consistency = c.defaults.consistency
	}
	return cc
}

// rpc is one request on one endpoint's stub.
type rpc func(ctx context.Context, kv quorumkvv1.KVClient) error

// invokeKey runs a key operation on key. Token-aware, it tries the key's
// replicas that are not known to be down, in preference order, while they do
// not answer, then fails over to the endpoints as invoke does, skipping the
// addresses already tried. Otherwise it is invoke. It returns nil or an
// *Error.
func (c *Client) invokeKey(ctx context.Context, cc callConfig, key []byte, fn rpc) error {
	if c.router == nil {
		return c.invoke(ctx, cc, false, fn)
	}
	var attempts []*Error
	for _, nc := range c.router.replicas(key) {
		if ctx.Err() != nil {
			return noEndpointError(ctx, attempts)
		}
		e := c.attempt(ctx, cc, nc.addr, nc.kv, fn)
		if e == nil {
			nc.answered()
			return nil
		}
		if ctx.Err() != nil {
			return noEndpointError(ctx, attempts)
		}
		if !errors.Is(e, errNoAnswer) {
			return e
		}
		c.router.noAnswer(nc)
		attempts = append(attempts, e)
	}
	return c.failover(ctx, cc, false, fn, attempts)
}

// invoke runs fn on the endpoint that answered last and, while endpoints do
// not answer, on the next ones in turn, each at most once. With pinned it
// tries the first endpoint only. It returns nil or an *Error.
func (c *Client) invoke(ctx context.Context, cc callConfig, pinned bool, fn rpc) error {
	return c.failover(ctx, cc, pinned, fn, nil)
}

// failover is invoke after the attempts already made (on replicas) that got
// no answer: it skips the endpoints they tried and reports them if no
// endpoint answers either.
func (c *Client) failover(ctx context.Context, cc callConfig, pinned bool, fn rpc, attempts []*Error) error {
	start, tries := int(c.current.Load()), len(c.kvs)
	if pinned {
		start, tries = 0, 1
	}
	onReplicas := attempts[:len(attempts):len(attempts)]
	for i := 0; i < tries && ctx.Err() == nil; i++ {
		idx := (start + i) % len(c.kvs)
		if tried(onReplicas, c.endpoints[idx]) {
			continue
		}
		e := c.attempt(ctx, cc, c.endpoints[idx], c.kvs[idx], fn)
		if e == nil {
			c.current.Store(int64(idx))
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		if !errors.Is(e, errNoAnswer) {
			if !pinned {
				c.current.Store(int64(idx))
			}
			return e
		}
		attempts = append(attempts, e)
	}
	return noEndpointError(ctx, attempts)
}

// attempt runs fn once on the node at addr, within the per-attempt
// timeout, and translates its error.
func (c *Client) attempt(ctx context.Context, cc callConfig, addr string, kv quorumkvv1.KVClient, fn rpc) *Error {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if cc.timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, cc.timeout)
	}
	err := fn(actx, kv)
	timedOut := actx.Err() != nil && ctx.Err() == nil
	cancel()
	if err == nil {
		return nil
	}
	e := tlsRefusal(fromStatus(err, addr), c.tls)
	if errors.Is(e, errNoAnswer) && !e.notGRPC && timedOut && e.Code == codes.DeadlineExceeded {
		e.Message = fmt.Sprintf("no answer within %s", cc.timeout)
	}
	return e
}

// tried reports whether one of attempts was made on addr.
func tried(attempts []*Error, addr string) bool {
	for _, a := range attempts {
		if a.Endpoint == addr {
			return true
		}
	}
	return false
}

// fetchRingTable asks the endpoints for the ring table, as any non-key call
// does, within the client's default timeout (DefaultTimeout if none).
func (c *Client) fetchRingTable(ctx context.Context) (*quorumkvv1.RingTableResponse, error) {
	cc := c.defaults
	if cc.timeout <= 0 {
		cc.timeout = DefaultTimeout
	}
	var resp *quorumkvv1.RingTableResponse
	err := c.invoke(ctx, cc, false, func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		resp, err = kv.RingTable(ctx, &quorumkvv1.RingTableRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
