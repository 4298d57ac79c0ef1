package client

import (
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// DefaultTimeout is how long one attempt on one endpoint may take unless
// WithTimeout says otherwise.
const DefaultTimeout = 2 * time.Second

// maxMessageBytes bounds gRPC messages both ways: large enough for any value
// the server accepts (1 MiB by default) and for big set reads.
const maxMessageBytes = 80 << 20

// Option configures a Client; give it to New.
type Option interface {
	applyClient(*clientConfig)
}

// CallOption configures one call; give it to a method.
type CallOption interface {
	applyCall(*callConfig)
}

// CommonOption is an option that sets a client-wide default when given to
// New and overrides that default for one call when given to a method.
type CommonOption interface {
	Option
	CallOption
}

// DefaultRingRefresh is how often a token-aware client fetches the ring
// table when WithTokenAware is given zero or less.
const DefaultRingRefresh = 10 * time.Second

// clientConfig is what New's options set.
type clientConfig struct {
	call        callConfig
	dialOptions []grpc.DialOption
	// ringRefresh is the ring table's refresh interval; zero: not
	// token-aware.
	ringRefresh time.Duration
	// tls is set by WithTLS.
	tls bool
}

// callConfig is what one call runs with: the client's defaults overridden by
// the call's options.
type callConfig struct {
	consistency Consistency   // zero: Quorum
	timeout     time.Duration // per endpoint attempt; zero or less: none (the ctx's deadline only)
	context     []byte        // Put only: the context token of an earlier Get
}

type consistencyOption Consistency

func (o consistencyOption) applyClient(c *clientConfig) { c.call.consistency = Consistency(o) }
func (o consistencyOption) applyCall(c *callConfig)     { c.consistency = Consistency(o) }

// WithConsistency sets the consistency level of key operations. The zero
// Consistency keeps the client's default (Quorum unless set on New).
func WithConsistency(c Consistency) CommonOption { return consistencyOption(c) }

type timeoutOption time.Duration

func (o timeoutOption) applyClient(c *clientConfig) { c.call.timeout = time.Duration(o) }
func (o timeoutOption) applyCall(c *callConfig)     { c.timeout = time.Duration(o) }

// WithTimeout bounds each attempt on one endpoint (DefaultTimeout when not
// given; zero or less: no bound but the caller's context). When an endpoint
// does not answer in time, the request moves on to the next endpoint; the
// coordinator answers by the attempt's deadline, minus a margin.
func WithTimeout(d time.Duration) CommonOption { return timeoutOption(d) }

type contextOption []byte

func (o contextOption) applyCall(c *callConfig) { c.context = []byte(o) }

// WithContext gives Put the context token of an earlier Get of the same key:
// the write then replaces exactly the values that read saw and is ordered
// after them. Without it a Put is a blind write. Other methods ignore it.
func WithContext(token []byte) CallOption { return contextOption(token) }

type dialOption []grpc.DialOption

func (o dialOption) applyClient(c *clientConfig) { c.dialOptions = append(c.dialOptions, o...) }

// WithDialOptions adds gRPC dial options to every endpoint's connection,
// after the client's own (insecure transport credentials and 80 MiB message
// limits), so they can override them.
func WithDialOptions(opts ...grpc.DialOption) Option { return dialOption(opts) }

// WithTLS connects to every endpoint (and, with WithTokenAware, every
// replica) with TLS as cfg says: the cluster's CA in RootCAs and, for a
// cluster that requires it, the client's certificate in Certificates. Nil
// keeps the plain connection.
func WithTLS(cfg *tls.Config) Option { return tlsOption{cfg} }

type tlsOption struct{ cfg *tls.Config }

func (o tlsOption) applyClient(c *clientConfig) {
	if o.cfg == nil {
		return
	}
	c.tls = true
	c.dialOptions = append(c.dialOptions, grpc.WithTransportCredentials(credentials.NewTLS(o.cfg)))
}

type tokenAwareOption time.Duration

func (o tokenAwareOption) applyClient(c *clientConfig) {
	c.ringRefresh = time.Duration(o)
	if c.ringRefresh <= 0 {
		c.ringRefresh = DefaultRingRefresh
	}
}

// WithTokenAware makes the client token-aware: it learns the cluster's
// partition table (RPC RingTable) and sends each key operation (Get, Put,
// Delete, SAdd, SRem, SMembers) straight to the first replica of the key
// that is not known to be down, so the request is coordinated without a
// forwarding hop. Every other call, and every key operation while no table
// is known yet, goes to the endpoints as without the option.
//
// The client fetches the table from the endpoints in the background: once
// right after New (requests do not wait for it), then every refresh
// (DefaultRingRefresh when zero or less), and soon after a replica did not
// answer. A replica that did not answer is skipped for one refresh interval,
// as is one whose connection is failing. When a replica does not answer the
// request moves on to the key's next replica, then to the endpoints, in
// the usual failover order, trying each address at most once. A replica
// that answers with an error is not retried elsewhere, exactly as an
// endpoint. So the option changes where requests go, never what they
// return.
//
// The client keeps one connection per node address, opened with the same
// dial options as the endpoints' (an address that is also an endpoint shares
// its connection); Close stops the refresh and closes them all.
func WithTokenAware(refresh time.Duration) Option { return tokenAwareOption(refresh) }
