package node

import (
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
)

// Config is everything a node is started with. Each field names its flag.
type Config struct {
	// NodeID (--node-id) names the node in the cluster; required.
	NodeID string
	// DataDir (--data-dir) holds the node's bbolt file; required.
	DataDir string
	// ClusterName (--cluster-name) is the memberlist label; required.
	ClusterName string
	// GRPCAddr (--grpc-addr) is the client gRPC listen address: the KV and
	// health services only.
	GRPCAddr string
	// GossipAddr (--gossip-addr) is the memberlist listen address.
	GossipAddr string
	// Join (--join) lists seed gossip addresses; empty creates a cluster.
	Join []string
	// MetricsAddr (--metrics-addr) serves /metrics, /healthz, /readyz;
	// empty disables it.
	MetricsAddr string
	// RESPAddr (--resp-addr) is the Redis protocol listener; empty: off.
	RESPAddr string
	// RESPConsistency (--resp-consistency) is the RESP connections'
	// default level: one, quorum or all.
	RESPConsistency string
	// RESPMaxClients (--resp-max-clients) caps RESP connections; at least 1.
	RESPMaxClients int

	// PeerAddr (--peer-addr) is the node-to-node gRPC listen address;
	// empty means the GRPCAddr host on an ephemeral port.
	PeerAddr string

	// Advertised addresses (--advertise-*-addr) are the addresses other
	// machines reach the listeners at, published in the member table;
	// never unspecified. Empty means the bound address when its host is
	// specified, else the bound port on the host of the first of
	// AdvertiseGRPCAddr, GRPCAddr, AdvertiseGossipAddr, GossipAddr that
	// names one. AdvertisePeerAddr's empty value takes the
	// AdvertiseGRPCAddr host when that is given.
	AdvertiseGRPCAddr, AdvertisePeerAddr, AdvertiseGossipAddr, AdvertiseRESPAddr string

	// Replace (--replace) names a removed or dead node this new one takes
	// the place of (cluster.Config.Replace); empty: none. It needs Join
	// and differs from NodeID.
	Replace string
	// TLSCert, TLSKey and TLSCA (--tls-cert, --tls-key, --tls-ca) are the
	// node's certificate, key and the cluster's CA, all three or none.
	TLSCert, TLSKey, TLSCA string
	// GossipKeyFile (--gossip-key-file) holds the gossip encryption keys.
	GossipKeyFile string
	// Insecure (--insecure) allows plain traffic off loopback: without it
	// and without TLS, a listen address other than loopback is refused.
	Insecure bool
	// ReplicationFactor (--replication-factor) is N, at least 1.
	ReplicationFactor int
	// VNodes (--vnodes) is this node's ring weight, at least 1.
	VNodes int
	// Conflict (--conflict) is the cluster's conflict policy.
	Conflict conflict.Policy
	// AntiEntropyInterval (--anti-entropy-interval), positive.
	AntiEntropyInterval time.Duration
	// MaxHintWindow (--max-hint-window), positive.
	MaxHintWindow time.Duration
	// TombstoneGrace (--tombstone-grace) must exceed MaxHintWindow.
	TombstoneGrace time.Duration
	// ReadRepairChance (--read-repair-chance), 0 to 1: the share of ONE
	// reads followed by a background read repair.
	ReadRepairChance float64
	// MaxClockOffset (--max-clock-offset), positive.
	MaxClockOffset time.Duration
	// MaxKeyBytes (--max-key-bytes), at least 1.
	MaxKeyBytes int
	// MaxValueBytes (--max-value-bytes), 0 to 64 MiB.
	MaxValueBytes int
	// MaxObjectBytes (--max-object-bytes) bounds a whole object's values
	// and members together: at least MaxValueBytes, at most
	// MaxObjectLimit. Key, value and object limits are cluster settings.
	MaxObjectBytes int
	// MaxSiblings (--max-siblings), at least 1.
	MaxSiblings int
	// ShutdownTimeout (--shutdown-timeout) bounds the drain on SIGTERM.
	ShutdownTimeout time.Duration
	// LogLevel (--log-level).
	LogLevel slog.Level
	// LogJSON (--log-format json) selects JSON log lines over text.
	LogJSON bool
	// Pprof (--pprof) serves net/http/pprof on the metrics address.
	Pprof bool
	// Wall is the wall clock of the HLC; nil means time.Now.
	Wall conflict.WallClock
	// Given names the flags set explicitly: on the command line, by a
	// KVNODE_* variable or in the --config file. Of the cluster settings
	// (--replication-factor, --conflict, --max-key-bytes,
	// --max-value-bytes, --max-object-bytes), only those given are
	// compared with the cluster's, which the others take. Nil means every
	// flag was given: all are compared.
	Given map[string]bool

	// Test knobs (--test-*), for the chaos suite and tests only: they break
	// guarantees on purpose to show the checkers catch it.
	//
	// TestClockOffset shifts the node's wall clock.
	TestClockOffset time.Duration
	// TestNoBlockingRepair answers QUORUM/ALL reads without read repair.
	TestNoBlockingRepair bool
	// TestNoHints writes no hints.
	TestNoHints bool
	// TestNoAntiEntropy runs no anti-entropy rounds.
	TestNoAntiEntropy bool

	// afterMoveBatch, in-process tests only, is called after each batch of
	// partitions a joining node filled.
	afterMoveBatch func()
}

// MaxValueLimit is the largest --max-value-bytes accepted.
const MaxValueLimit = 64 << 20

// MaxObjectLimit is the largest --max-object-bytes accepted: every peer
// message (replication.MaxMessageBytes) carries the largest object with
// room to spare for its dots, contexts and framing.
const MaxObjectLimit = 64 << 20

// DefaultConfig returns the defaults of DESIGN.md; NodeID, DataDir and the
// addresses are left for the caller.
func DefaultConfig() Config {
	return Config{
		ClusterName:         "quorumkv",
		GRPCAddr:            "127.0.0.1:7001",
		GossipAddr:          "127.0.0.1:7101",
		ReplicationFactor:   3,
		VNodes:              64,
		Conflict:            conflict.LWW,
		AntiEntropyInterval: time.Minute,
		MaxHintWindow:       3 * time.Hour,
		TombstoneGrace:      24 * time.Hour,
		MaxClockOffset:      500 * time.Millisecond,
		ReadRepairChance:    0.1,
		RESPConsistency:     "quorum",
		RESPMaxClients:      10000,
		MaxKeyBytes:         1024,
		MaxValueBytes:       1 << 20,
		MaxObjectBytes:      8 << 20,
		MaxSiblings:         100,
		ShutdownTimeout:     10 * time.Second,
		LogLevel:            slog.LevelInfo,
	}
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// FlagError is a Validate error naming the flag at fault.
type FlagError struct {
	Flag string
	Err  error
}

func (e *FlagError) Error() string { return fmt.Sprintf("--%s: %v", e.Flag, e.Err) }
func (e *FlagError) Unwrap() error { return e.Err }

func flagErr(flag, format string, args ...any) error {
	return &FlagError{Flag: flag, Err: fmt.Errorf(format, args...)}
}

func checkAddr(flag, addr string, optional bool) error {
	if addr == "" {
		if optional {
			return nil
		}
		return flagErr(flag, "is required (host:port)")
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return flagErr(flag, "%q is not a host:port address", addr)
	}
	return nil
}

// checkAdvertised refuses an advertised address that is not host:port or
// whose host is unspecified (0.0.0.0, ::): no other machine can reach it.
func checkAdvertised(flag, addr string) error {
	if addr == "" {
		return nil
	}
	if err := checkAddr(flag, addr, false); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return flagErr(flag, "%q advertises an unspecified address: name the address other machines reach this node at", addr)
	}
	return nil
}

func countSet(vs ...string) int {
	n := 0
	for _, v := range vs {
		if v != "" {
			n++
		}
	}
	return n
}

// Validate returns a *FlagError naming the first bad setting.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if !nodeIDPattern.MatchString(c.NodeID) {
		add(flagErr("node-id", "%q is not a node id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", c.NodeID))
	}
	if c.DataDir == "" {
		add(flagErr("data-dir", "is required"))
	}
	if c.ClusterName == "" {
		add(flagErr("cluster-name", "is required"))
	}
	add(checkAddr("grpc-addr", c.GRPCAddr, false))
	add(checkAddr("gossip-addr", c.GossipAddr, false))
	add(checkAddr("metrics-addr", c.MetricsAddr, true))
	add(checkAddr("resp-addr", c.RESPAddr, true))
	add(checkAddr("peer-addr", c.PeerAddr, true))
	for flag, a := range map[string]string{"advertise-grpc-addr": c.AdvertiseGRPCAddr, "advertise-peer-addr": c.AdvertisePeerAddr,
		"advertise-gossip-addr": c.AdvertiseGossipAddr, "advertise-resp-addr": c.AdvertiseRESPAddr} {
		add(checkAdvertised(flag, a))
	}
	if len(errs) == 0 {
		add(checkAdvertisable(c))
	}
	switch c.RESPConsistency {
	case "one", "quorum", "all":
	default:
		add(flagErr("resp-consistency", "%q is not a level: use one, quorum or all", c.RESPConsistency))
	}
	if c.RESPMaxClients < 1 {
		add(flagErr("resp-max-clients", "is %d: must be at least 1", c.RESPMaxClients))
	}
	switch {
	case c.Replace == "":
	case !nodeIDPattern.MatchString(c.Replace):
		add(flagErr("replace", "%q is not a node id", c.Replace))
	case c.Replace == c.NodeID:
		add(flagErr("replace", "is %q, this node's own id: a node takes the place of another (to bring %s back with an empty data dir, start it without --replace)", c.Replace, c.NodeID))
	case len(c.Join) == 0:
		add(flagErr("replace", "needs --join: a replacing node joins the cluster of the node it replaces"))
	}
	if n := countSet(c.TLSCert, c.TLSKey, c.TLSCA); n != 0 && n != 3 {
		add(flagErr("tls-cert", "--tls-cert, --tls-key and --tls-ca go together: give all three or none"))
	} else if n == 3 && c.GossipKeyFile == "" {
		add(flagErr("gossip-key-file", "is required with --tls-*: without gossip encryption an outsider could still inject member entries"))
	}
	for _, j := range c.Join {
		add(checkAddr("join", j, false))
	}
	if c.ReplicationFactor < 1 {
		add(flagErr("replication-factor", "is %d: must be at least 1", c.ReplicationFactor))
	}
	if c.VNodes < 1 || c.VNodes > 4096 {
		add(flagErr("vnodes", "is %d: must be 1 to 4096", c.VNodes))
	}
	if c.Conflict != conflict.LWW && c.Conflict != conflict.Siblings {
		add(flagErr("conflict", "must be lww or siblings"))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"anti-entropy-interval", c.AntiEntropyInterval}, {"max-hint-window", c.MaxHintWindow},
		{"tombstone-grace", c.TombstoneGrace}, {"max-clock-offset", c.MaxClockOffset},
		{"shutdown-timeout", c.ShutdownTimeout},
	} {
		if d.v <= 0 {
			add(flagErr(d.flag, "is %v: must be positive", d.v))
		}
	}
	if c.TombstoneGrace > 0 && c.MaxHintWindow > 0 && c.TombstoneGrace <= c.MaxHintWindow {
		add(flagErr("tombstone-grace", "is %v: must exceed --max-hint-window (%v), or a hint could resurrect a purged key", c.TombstoneGrace, c.MaxHintWindow))
	}
	if c.MaxKeyBytes < 1 || c.MaxKeyBytes > 64<<10 {
		add(flagErr("max-key-bytes", "is %d: must be 1 to 65536", c.MaxKeyBytes))
	}
	if c.MaxValueBytes < 0 || c.MaxValueBytes > MaxValueLimit {
		add(flagErr("max-value-bytes", "is %d: must be 0 to %d", c.MaxValueBytes, MaxValueLimit))
	}
	if c.MaxObjectBytes < c.MaxValueBytes || c.MaxObjectBytes > MaxObjectLimit {
		add(flagErr("max-object-bytes", "is %d: must be at least --max-value-bytes (%d) and at most %d", c.MaxObjectBytes, c.MaxValueBytes, MaxObjectLimit))
	}
	if !(c.ReadRepairChance >= 0 && c.ReadRepairChance <= 1) {
		add(flagErr("read-repair-chance", "is %v: must be 0 to 1", c.ReadRepairChance))
	}
	if c.MaxSiblings < 1 {
		add(flagErr("max-siblings", "is %d: must be at least 1", c.MaxSiblings))
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
