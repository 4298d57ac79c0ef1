package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

// DefaultVNodes is the ring weight of a node whose Config.VNodes is zero.
const DefaultVNodes = 64

// maxIDLen bounds node ids: they travel in every gossip message.
const maxIDLen = 128

// Config configures a Membership. Start from DefaultConfig and set the
// node's identity; a zero duration or count means the default shown in
// DefaultConfig. A Config is copied by New and not retained.
type Config struct {
	// NodeID is this node's id, unique in the cluster and stable across
	// restarts: the ring derives the node's tokens from it, and it is the
	// memberlist node name. Required; at most 128 bytes.
	NodeID string
	// ClusterName is the memberlist Label: nodes with different names
	// cannot exchange a single packet. Empty means no label. At most 255
	// bytes.
	ClusterName string
	// GRPCAddr is the host:port of this node's client gRPC server as other
	// machines reach it (its advertised address), published in its member
	// entry and node meta. Required.
	GRPCAddr string
	// PeerAddr is the host:port of this node's peer gRPC server as other
	// machines reach it, which they dial for node-to-node RPCs (Join
	// among them), published
	// in its member entry and node meta. Empty means the node serves its
	// peers on GRPCAddr.
	PeerAddr string
	// GossipAddr is the host:port memberlist advertises (when Transport
	// is nil) and the gossip address published in the member entry, which
	// other nodes join and re-join. Required, and not an unspecified
	// address (0.0.0.0, ::): other machines must reach it. With a
	// Transport it must be the address that transport advertises.
	GossipAddr string
	// GossipBindAddr is the host:port memberlist binds to (when Transport
	// is nil); it may be unspecified (0.0.0.0: every interface). Empty
	// means GossipAddr.
	GossipBindAddr string
	// RESPAddr is the host:port of this node's RESP listener as other
	// machines reach it, published in its member entry. Empty means none.
	RESPAddr string
	// VNodes is this node's ring weight: how many tokens it owns. Zero
	// means DefaultVNodes; at most ring.MaxVNodes.
	VNodes int
	// Replace is the id of a member whose place this node takes: it joins
	// owning that member's ring tokens (Entry.TokensOf), so it replicates
	// exactly the partitions the member did, and is filled as any joiner.
	// The member must be removed, or dead (memberlist does not consider it
	// alive or suspect): then this node marks it removed as it joins. Only
	// a node new to the cluster may replace (a restart of the node that
	// already replaced it is accepted), with the replaced member's
	// VNodes, and only while no other live member holds those tokens;
	// otherwise the membership stops with a *ReplaceError. It requires
	// Seeds. Empty means none.
	Replace string
	// Seeds are gossip addresses (host:port) of members to join. A node
	// started without settings joins them until one answers with settings;
	// a node with settings but no persisted table (it lost it) joins them to
	// learn its place. Addresses equal to GossipAddr are ignored. Nil means
	// none: a node with settings and no seeds bootstraps a cluster of one.
	Seeds []string
	// Logger receives this package's logs; memberlist's own log lines are
	// routed into it at debug level. Nil discards logs.
	Logger *slog.Logger
	// Transport carries gossip; tests inject an in-memory one
	// (cluster/clustertest). Nil means the real network on GossipAddr (UDP
	// and TCP). Membership shuts it down on Close, or in New when New
	// fails.
	Transport memberlist.NodeAwareTransport

	// GossipKeys are the gossip encryption keys (AES-256: 32 bytes each),
	// the first one primary: memberlist encrypts and authenticates every
	// message with the primary key and accepts messages sealed with any of
	// them (GossipVerifyIncoming and GossipVerifyOutgoing are on), so a
	// process without a key can neither read nor change anything. Nil
	// means unencrypted, unauthenticated gossip: then a Removed state is
	// accepted from gossip only for a member this node sees dead, never for
	// this node itself. Keys must be distinct.
	GossipKeys [][]byte

	// ProbeInterval is memberlist's failure-detection probe interval.
	// Zero: 1s.
	ProbeInterval time.Duration
	// ProbeTimeout is how long memberlist waits for a probe's ack. Zero:
	// 500ms.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a node stays suspect before it is
	// declared dead (SuspicionMult * log10(nodes) * ProbeInterval). Zero: 4.
	SuspicionMult int
	// GossipInterval is memberlist's gossip (broadcast) interval. Zero:
	// 200ms.
	GossipInterval time.Duration
	// GossipToTheDeadTime is how long memberlist still gossips to, and
	// remembers, a dead node; after it memberlist forgets the node and only
	// the reconnect loop finds it again. Zero: 30s.
	GossipToTheDeadTime time.Duration
	// PushPullInterval is the interval of full state syncs (memberlist
	// push/pull), which carry the whole member table. Zero: 2s.
	PushPullInterval time.Duration
	// StreamTimeout bounds memberlist's stream dials and reads (memberlist
	// TCPTimeout), and so how long a join or reconnect attempt to an
	// unreachable address blocks, Close included. Zero: 5s.
	StreamTimeout time.Duration
	// ReconnectInterval is how often the node re-joins every table member
	// that is not left or removed and that memberlist does not consider
	// alive. Zero: 5s.
	ReconnectInterval time.Duration
	// JoinRetryInterval is how often a node that has not joined yet retries
	// its seeds. Zero: 1s.
	JoinRetryInterval time.Duration

	// AdoptSettings is called, at most once per Membership and from its
	// join loop, when a node started without settings receives the
	// cluster's settings from a member (through Join). It checks them against the node's
	// flags and persists them before returning nil; Membership then adds
	// the node to the table. An error is permanent: Membership stops
	// joining and reports it on Err (an error wrapping ErrRestart: the
	// settings are persisted, and the node restarts to apply them). Required when New is given no
	// settings; unused otherwise.
	AdoptSettings func(Settings) error
	// LastRunning is when this node last recorded that it runs (zero:
	// unknown, a new data dir or one from before the record existed), and
	// MaxDowntime the longest it may have been down since and still rejoin
	// with its data: the tombstone grace period. New refuses a node down
	// longer (ErrDownTooLong) unless it is the only member. Zero
	// MaxDowntime: no limit.
	LastRunning time.Time
	MaxDowntime time.Duration
	// Wall is this node's wall clock, sent in every probe ack so members
	// estimate each other's clock offset. Nil means time.Now.
	Wall func() time.Time
	// OnPeerClock is given, for every probe of a member that completes, the
	// wall time its ack carried and this node's wall times (Wall) when the
	// probe was sent and its ack arrived, for the clock fence. It is
	// called from memberlist's goroutines and must not block. Nil: unused.
	OnPeerClock func(peer string, peerWall, sent, recv time.Time)
	// OnKeyringChange persists the gossip keys, the primary first, after
	// ChangeKeyring changed them; the node starts from them next time.
	// Called from ChangeKeyring's caller, changes serialized. Nil: not
	// persisted.
	OnKeyringChange func(keys [][]byte) error
	// Join asks a member for the cluster's settings and secret over its
	// gRPC listener (Replica.Join); they are never gossiped. Required when
	// New is given no settings; unused otherwise.
	Join JoinFunc
	// OnStateLoss is called, once and from a gossip goroutine, when the
	// node adopts a table that already lists its id (joining, normal,
	// leaving or left) although it started without a persisted table: it
	// lost its data, so it must renew its actor. The node is Joining by
	// then. Nil: nothing is called.
	OnStateLoss func()
}

// DefaultConfig returns a Config with every tunable set to its default.
// The caller sets NodeID, ClusterName, GRPCAddr, GossipAddr, Seeds and the
// callbacks.
func DefaultConfig() Config {
	return Config{
		VNodes:              DefaultVNodes,
		ProbeInterval:       time.Second,
		ProbeTimeout:        500 * time.Millisecond,
		SuspicionMult:       4,
		GossipInterval:      200 * time.Millisecond,
		GossipToTheDeadTime: 30 * time.Second,
		PushPullInterval:    2 * time.Second,
		StreamTimeout:       5 * time.Second,
		ReconnectInterval:   5 * time.Second,
		JoinRetryInterval:   time.Second,
	}
}

// withDefaults returns c with every zero tunable replaced by its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setIfZero(&c.VNodes, d.VNodes)
	setIfZero(&c.ProbeInterval, d.ProbeInterval)
	setIfZero(&c.ProbeTimeout, d.ProbeTimeout)
	setIfZero(&c.SuspicionMult, d.SuspicionMult)
	setIfZero(&c.GossipInterval, d.GossipInterval)
	setIfZero(&c.GossipToTheDeadTime, d.GossipToTheDeadTime)
	setIfZero(&c.PushPullInterval, d.PushPullInterval)
	setIfZero(&c.StreamTimeout, d.StreamTimeout)
	setIfZero(&c.ReconnectInterval, d.ReconnectInterval)
	setIfZero(&c.JoinRetryInterval, d.JoinRetryInterval)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setIfZero[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports the first unusable field, naming it, wrapped in
// ErrInvalidConfig. Zero tunables are valid (they mean the default).
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.NodeID == "":
		return bad("NodeID is empty")
	case len(c.NodeID) > maxIDLen:
		return bad("NodeID is longer than %d bytes", maxIDLen)
	case len(c.ClusterName) > memberlist.LabelMaxSize:
		return bad("ClusterName is longer than %d bytes", memberlist.LabelMaxSize)
	case c.VNodes < 0 || c.VNodes > ring.MaxVNodes:
		return bad("VNodes = %d, must be in [1, %d] (0: %d)", c.VNodes, ring.MaxVNodes, DefaultVNodes)
	case c.SuspicionMult < 0:
		return bad("SuspicionMult = %d is negative", c.SuspicionMult)
	case len(c.Replace) > maxIDLen:
		return bad("Replace is longer than %d bytes", maxIDLen)
	case c.Replace != "" && c.Replace == c.NodeID:
		return bad("Replace = %q is this node's own id", c.Replace)
	case c.Replace != "" && len(c.Seeds) == 0:
		return bad("Replace needs Seeds: a replacing node joins an existing cluster")
	}
	if err := checkHostPort(c.GRPCAddr); err != nil {
		return bad("GRPCAddr: %v", err)
	}
	if c.PeerAddr != "" {
		if err := checkHostPort(c.PeerAddr); err != nil {
			return bad("PeerAddr: %v", err)
		}
	}
	if err := checkHostPort(c.GossipAddr); err != nil {
		return bad("GossipAddr: %v", err)
	}
	if host, _, _ := net.SplitHostPort(c.GossipAddr); net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		return bad("GossipAddr %q is unspecified: other nodes must be able to reach it", c.GossipAddr)
	}
	if c.GossipBindAddr != "" {
		if _, port, err := net.SplitHostPort(c.GossipBindAddr); err != nil {
			return bad("GossipBindAddr %q is not host:port: %v", c.GossipBindAddr, err)
		} else if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return bad("GossipBindAddr %q: port must be in [1, 65535]", c.GossipBindAddr)
		}
	}
	if c.RESPAddr != "" {
		if err := checkHostPort(c.RESPAddr); err != nil {
			return bad("RESPAddr: %v", err)
		}
	}
	for _, s := range c.Seeds {
		if err := checkHostPort(s); err != nil {
			return bad("Seeds: %v", err)
		}
	}
	if err := checkGossipKeys(c.GossipKeys); err != nil {
		return bad("GossipKeys: %v", err)
	}
	for name, d := range map[string]time.Duration{
		"ProbeInterval":       c.ProbeInterval,
		"ProbeTimeout":        c.ProbeTimeout,
		"GossipInterval":      c.GossipInterval,
		"GossipToTheDeadTime": c.GossipToTheDeadTime,
		"PushPullInterval":    c.PushPullInterval,
		"StreamTimeout":       c.StreamTimeout,
		"ReconnectInterval":   c.ReconnectInterval,
		"JoinRetryInterval":   c.JoinRetryInterval,
	} {
		if d < 0 {
			return bad("%s = %v is negative", name, d)
		}
	}
	return nil
}

// gossipBind is the address memberlist binds to: GossipBindAddr, or
// GossipAddr.
func (c Config) gossipBind() string {
	if c.GossipBindAddr != "" {
		return c.GossipBindAddr
	}
	return c.GossipAddr
}

// checkHostPort accepts host:port with a non-empty host and a port in
// [1, 65535].
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return fmt.Errorf("%q: port must be in [1, 65535]", addr)
	}
	return nil
}

// sameAddr reports whether two host:port strings name the same endpoint:
// equal strings, or equal ports and equal IP literals.
func sameAddr(a, b string) bool {
	if a == b {
		return true
	}
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb {
		return false
	}
	ipa, ipb := net.ParseIP(ha), net.ParseIP(hb)
	return ipa != nil && ipa.Equal(ipb)
}
