package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/internal/testkit"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

func TestSeedReason(t *testing.T) {
	const seed = "10.0.0.1:7101"
	for name, tc := range map[string]struct {
		err  string
		want string
	}{
		"nothing listens":    {"failed to join 10.0.0.1:7101: dial tcp 10.0.0.1:7101: connect: connection refused", "nothing listens at 10.0.0.1:7101"},
		"other cluster name": {"failed to join 10.0.0.1:7101: EOF", "another --cluster-name than this node's \"prod\""},
		"reset":              {"failed to join 10.0.0.1:7101: read tcp: connection reset by peer", "another --cluster-name"},
		"seed without key":   {"failed to join 10.0.0.1:7101: encryption is configured but remote state is not encrypted", "runs without a gossip key but this node has one"},
		"joiner without key": {"failed to join 10.0.0.1:7101: remote state is encrypted and encryption is not configured", "this node has no gossip key"},
		"other key":          {"failed to join 10.0.0.1:7101: no installed keys could decrypt the message", "a key this node does not hold"},
		"timeout":            {"failed to join 10.0.0.1:7101: dial tcp 10.0.0.1:7101: i/o timeout", "no answer from 10.0.0.1:7101"},
		"unknown":            {"failed to join 10.0.0.1:7101: something else", "joining 10.0.0.1:7101 failed"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := seedReason(seed, errors.New(tc.err), "prod"); !strings.Contains(got, tc.want) {
				t.Fatalf("seedReason = %q, want it to say %q", got, tc.want)
			}
		})
	}
	for name, tc := range map[string]struct {
		err  string
		want string
	}{
		"plain joiner, TLS member": {`rpc error: code = Unavailable desc = connection error: desc = "error reading server preface: EOF"`, "runs with --tls-* and this node without"},
		"TLS joiner, plain member": {`rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"`, "serves plain gRPC"},
		"other CA":                 {`rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`, "signed by the same --tls-ca"},
		"nothing at the peer addr": {`rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.1:7301: connect: connection refused"`, "--advertise-peer-addr"},
		"refused, said why":        {`rpc error: code = PermissionDenied desc = the key proof matches none of this node's gossip keys`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			got := joinRPCReason("n1", "10.0.0.1:7301", errors.New(tc.err))
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("joinRPCReason = %q, want it to say %q", got, tc.want)
			}
		})
	}
}

// logBuffer collects log lines written by several goroutines.
type logBuffer = testkit.LogBuffer

// freeGossipAddr returns a loopback host:port free at the time of the call.
func freeGossipAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// realConfig is a node on the real network (UDP and TCP on loopback),
// logging to log.
func realConfig(t *testing.T, id, clusterName string, keys [][]byte, log *logBuffer, seeds ...string) Config {
	cfg := DefaultConfig()
	cfg.NodeID, cfg.ClusterName = id, clusterName
	cfg.GRPCAddr, cfg.GossipAddr = "127.0.0.1:1", freeGossipAddr(t)
	cfg.Seeds, cfg.GossipKeys = seeds, keys
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	cfg.StreamTimeout, cfg.JoinRetryInterval = time.Second, 100*time.Millisecond
	cfg.AdoptSettings = func(Settings) error { return nil }
	cfg.Join = func(context.Context, string, *quorumkvv1.JoinRequest) (*quorumkvv1.JoinResponse, error) {
		return nil, errors.New("no Join here")
	}
	return cfg
}

// A joiner that cannot reach its seed logs, once per seed, why: another
// cluster name, nothing listening, no gossip key or another one; the seed
// logs that a node of another cluster name or other gossip keys knocked.
func TestJoinSeeds_saysWhyOnTheRealNetwork(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	other := bytes.Repeat([]byte{2}, 32)
	for name, tc := range map[string]struct {
		seedKeys, joinerKeys [][]byte
		joinerName           string
		noSeed               bool
		joinerSays, seedSays string
	}{
		"another cluster name": {joinerName: "other", joinerSays: `another --cluster-name than this node's \"other\"`,
			seedSays: "refused gossip from a node of another cluster name"},
		"nothing listens":      {noSeed: true, joinerSays: "nothing listens at"},
		"joiner without a key": {seedKeys: [][]byte{key}, joinerSays: "this node has no gossip key", seedSays: "refused gossip from a node without a gossip key"},
		"seed without a key":   {joinerKeys: [][]byte{key}, joinerSays: "runs without a gossip key but this node has one", seedSays: "this node has no gossip key"},
		"another key":          {seedKeys: [][]byte{key}, joinerKeys: [][]byte{other}, joinerSays: "a key this node does not hold", seedSays: "a key this node does not hold"},
	} {
		t.Run(name, func(t *testing.T) {
			var seedLog, joinerLog logBuffer
			seedAddr := freeGossipAddr(t)
			if !tc.noSeed {
				cfg := realConfig(t, "n1", "prod", tc.seedKeys, &seedLog)
				s := testSettings(1)
				seed, err := New(cfg, &s, &memStore{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = seed.Close() })
				seedAddr = cfg.GossipAddr
			}
			name := "prod"
			if tc.joinerName != "" {
				name = tc.joinerName
			}
			joiner, err := New(realConfig(t, "n2", name, tc.joinerKeys, &joinerLog, seedAddr), nil, &memStore{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = joiner.Close() })
			eventually(t, 10*time.Second, "the logs say why", func() error {
				if !strings.Contains(joinerLog.String(), tc.joinerSays) {
					return fmt.Errorf("joiner log lacks %q:\n%s", tc.joinerSays, joinerLog.String())
				}
				if tc.seedSays != "" && !strings.Contains(seedLog.String(), tc.seedSays) {
					return fmt.Errorf("seed log lacks %q:\n%s", tc.seedSays, seedLog.String())
				}
				return nil
			})
			if joiner.Joined() {
				t.Fatal("the joiner joined")
			}
			if n := strings.Count(joinerLog.String(), "a seed cannot be joined"); n != 1 {
				t.Fatalf("%d lines about the seed, want 1 per interval:\n%s", n, joinerLog.String())
			}
		})
	}
}
