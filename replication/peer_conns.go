package replication

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// PeerConnsConfig configures a PeerConns. Zero fields take the defaults of
// DefaultPeerConnsConfig.
type PeerConnsConfig struct {
	// ConnectTimeout is the least time gRPC gives one connection attempt.
	// Zero means 2s.
	ConnectTimeout time.Duration
	// MinBackoff and MaxBackoff bound gRPC's wait between connection
	// attempts to a peer (doubling, 20% jitter). Zero means 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// DialOptions are added after the pool's own (insecure credentials,
	// MaxMessageBytes limits, connect parameters), so they override them:
	// TLS credentials, keepalive, interceptors. Nil adds none.
	DialOptions []grpc.DialOption
}

// DefaultPeerConnsConfig returns the defaults.
func DefaultPeerConnsConfig() PeerConnsConfig {
	return PeerConnsConfig{ConnectTimeout: 2 * time.Second, MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
}

// Validate reports the first unusable setting.
func (c PeerConnsConfig) Validate() error {
	switch {
	case c.ConnectTimeout < 0, c.MinBackoff < 0, c.MaxBackoff < 0:
		return errors.New("peer connections: connect timeout and backoffs must not be negative")
	case c.MaxBackoff != 0 && c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("peer connections: max backoff %v is below min backoff %v", c.MaxBackoff, c.MinBackoff)
	}
	return nil
}

func (c PeerConnsConfig) withDefaults() PeerConnsConfig {
	d := DefaultPeerConnsConfig()
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = d.MinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(d.MaxBackoff, c.MinBackoff)
	}
	return c
}

// ErrPeerConnsClosed is returned by a PeerConns after Close.
var ErrPeerConnsClosed = errors.New("peer connections closed")

// PeerConns is a node's one pool of gRPC client connections to its peers'
// peer listeners, keyed by member id and found through a Resolver; it owns
// the dial options. GRPCTransport opens its Exchange streams on it; its
// ReplicaClient serves anti-entropy and purge (antientropy.PeerDialer) and
// Conn the node's forwarding of client requests.
//
// Connections are made lazily (no call blocks on the network) and kept
// until Close; the peer's address is resolved at every call, and a
// connection to an address the peer has left is closed and replaced.
// Safe for concurrent use. The node creates one and closes it once, after
// the transport and every other user have stopped.
type PeerConns struct {
	resolver Resolver
	opts     []grpc.DialOption

	mu     sync.Mutex
	closed bool
	conns  map[laneKey]*laneConn
}

// laneKey names one connection to a peer: the transport gives each of its
// streams to a peer its own lane, so they do not share a TCP connection;
// lane 0 also carries the unary calls.
type laneKey struct {
	peer string
	lane int
}

type laneConn struct {
	addr string
	cc   *grpc.ClientConn
}

// NewPeerConns returns a pool that finds peers through resolver.
func NewPeerConns(cfg PeerConnsConfig, resolver Resolver) (*PeerConns, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if resolver == nil {
		return nil, errors.New("peer connections: resolver is required")
	}
	cfg = cfg.withDefaults()
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: cfg.MinBackoff, Multiplier: 2, Jitter: 0.2, MaxDelay: cfg.MaxBackoff},
			MinConnectTimeout: cfg.ConnectTimeout,
		}),
	}
	return &PeerConns{resolver: resolver, opts: append(opts, cfg.DialOptions...), conns: map[laneKey]*laneConn{}}, nil
}

// Conn returns the connection to peer (lane 0), for any service of its
// peer listener. It fails with ErrPeerUnknown when the resolver does not
// know peer, ErrPeerConnsClosed after Close. The pool owns the connection:
// callers never close it.
func (p *PeerConns) Conn(peer string) (*grpc.ClientConn, error) {
	cc, _, err := p.lane(peer, 0)
	return cc, err
}

// ReplicaClient returns a client of peer's Replica service, on Conn(peer).
// It implements antientropy.PeerDialer.
func (p *PeerConns) ReplicaClient(peer string) (quorumkvv1.ReplicaClient, error) {
	cc, err := p.Conn(peer)
	if err != nil {
		return nil, err
	}
	return quorumkvv1.NewReplicaClient(cc), nil
}

// lane returns the connection of lane to peer and its address, made at
// first use and remade when the peer's address changed.
func (p *PeerConns) lane(peer string, lane int) (*grpc.ClientConn, string, error) {
	addr, ok := p.resolver.Resolve(peer)
	if !ok {
		return nil, "", fmt.Errorf("%w: %s", ErrPeerUnknown, peer)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, addr, ErrPeerConnsClosed
	}
	k := laneKey{peer: peer, lane: lane}
	if c, ok := p.conns[k]; ok {
		if c.addr == addr {
			return c.cc, addr, nil
		}
		_ = c.cc.Close() // the peer moved: calls still on it fail, as they would
		delete(p.conns, k)
	}
	cc, err := grpc.NewClient(addr, p.opts...)
	if err != nil {
		return nil, addr, fmt.Errorf("dial %s: %w", addr, err)
	}
	p.conns[k] = &laneConn{addr: addr, cc: cc}
	return cc, addr, nil
}

// Close closes every connection; calls in flight on them fail. Later calls
// fail with ErrPeerConnsClosed. It is idempotent.
func (p *PeerConns) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for k, c := range p.conns {
		_ = c.cc.Close() // at shutdown: a close error changes nothing
		delete(p.conns, k)
	}
	return nil
}
