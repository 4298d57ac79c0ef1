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

	current   atomic.Int64 // index of the endpoint that answered last
	closeOnce sync.Once
	closeErr  error
}

// New returns a client of the nodes at endpoints (gRPC host:port), tried in
// the order given. It does not connect: the first request connects to the
// first endpoint that answers. It fails (with ErrInvalidArgument) only for
// an empty list or an endpoint gRPC cannot parse.
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
	c := &Client{defaults: cfg.call}
	for _, ep := range endpoints {
		if ep = strings.TrimSpace(ep); ep != "" {
			c.endpoints = append(c.endpoints, ep)
		}
	}
	if len(c.endpoints) == 0 {
		return nil, &Error{Code: codes.InvalidArgument, Message: "no endpoints given", kind: ErrInvalidArgument}
	}
	dial := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageBytes),
			grpc.MaxCallSendMsgSize(maxMessageBytes),
		),
	}, cfg.dialOptions...)
	for _, ep := range c.endpoints {
		conn, err := grpc.NewClient(ep, dial...)
		if err != nil {
			_ = c.Close()
			return nil, &Error{Code: codes.InvalidArgument, Message: fmt.Sprintf("endpoint %q: %v", ep, err), kind: ErrInvalidArgument, cause: err}
		}
		c.conns = append(c.conns, conn)
		c.kvs = append(c.kvs, quorumkvv1.NewKVClient(conn))
	}
	return c, nil
}

// Endpoints returns the endpoints the client was built with (blank entries
// dropped), in order.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Close closes every connection. Requests in flight fail. It is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
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

// invoke runs fn on the endpoint that answered last and, while endpoints do
// not answer, on the next ones in turn, each at most once. With pinned it
// tries the first endpoint only. It returns nil or an *Error.
func (c *Client) invoke(ctx context.Context, cc callConfig, pinned bool, fn rpc) error {
	start, tries := int(c.current.Load()), len(c.kvs)
	if pinned {
		start, tries = 0, 1
	}
	var attempts []*Error
	for i := 0; i < tries && ctx.Err() == nil; i++ {
		idx := (start + i) % len(c.kvs)
		actx, cancel := ctx, context.CancelFunc(func() {})
		if cc.timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, cc.timeout)
		}
		err := fn(actx, c.kvs[idx])
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			c.current.Store(int64(idx))
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		e := fromStatus(err, c.endpoints[idx])
		if !errors.Is(e, errNoAnswer) {
			if !pinned {
				c.current.Store(int64(idx))
			}
			return e
		}
		if timedOut && e.Code == codes.DeadlineExceeded {
			e.Message = fmt.Sprintf("no answer within %s", cc.timeout)
		}
		attempts = append(attempts, e)
	}
	return noEndpointError(ctx, attempts)
}
