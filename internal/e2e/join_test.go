package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/security"
)

// normalMembers returns how many members node p lists alive and normal.
func normalMembers(t *testing.T, p *nodeProc) int {
	t.Helper()
	r := kvctl(t, p.grpc, nil, "-o", "json", "members")
	var out struct{ Members []member }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		return 0
	}
	n := 0
	for _, m := range out.Members {
		if m.State == "alive" && m.RingState == "normal" {
			n++
		}
	}
	return n
}

// A joiner given none of the setting flags joins a cluster created with
// --conflict siblings and a 4096-byte value limit, takes both, and keeps
// them across a restart (they are in its data dir).
func TestCluster_joinerAdoptsSettingsLeftAtDefaults(t *testing.T) {
	seed := startNode(t, nodeOpts{args: []string{"--conflict", "siblings", "--max-value-bytes", "4096"}})
	gossip := seed.args[indexOf(seed.args, "--gossip-addr")+1]
	joiner := startNode(t, nodeOpts{args: []string{"--node-id", "n2", "--join", gossip}})
	eventually(t, 30*time.Second, "two normal members", func() bool { return normalMembers(t, seed) == 2 })
	check := func(p *nodeProc, key string) {
		t.Helper()
		p.expect(2, []string{"4096"}, "put", "big", strings.Repeat("x", 5000), "-c", "one")
		p.must("put", key, "a", "-c", "all")
		p.must("put", key, "b", "-c", "all")
		if r := kvctl(t, p.grpc, nil, "get", key, "-c", "one"); r.code != 0 || strings.Count(r.stdout, "\n") != 2 {
			t.Fatalf("get after two blind puts on the joiner: %v; want two siblings", r)
		}
	}
	check(joiner, "k1")
	joiner.cmd.Process.Signal(syscall.SIGTERM)
	if code := joiner.exitCode(20 * time.Second); code != 0 {
		t.Fatalf("joiner exit %d:\n%s", code, joiner.stderr)
	}
	check(joiner.restart(), "k2")
}

// A joiner with another --cluster-name says why it cannot join its seed,
// and the seed says a node of another cluster name knocked.
func TestCluster_joinerWithAnotherClusterNameSaysWhy(t *testing.T) {
	seed := startNode(t, nodeOpts{})
	gossip := seed.args[indexOf(seed.args, "--gossip-addr")+1]
	joiner := spawn(t, nodeOpts{args: []string{"--node-id", "n2", "--join", gossip, "--cluster-name", "other"}})
	eventually(t, 20*time.Second, "both logs saying why", func() bool {
		return strings.Contains(joiner.stderr.String(), "another --cluster-name") &&
			strings.Contains(seed.stderr.String(), "refused gossip from a node of another cluster name")
	})
	if !strings.Contains(joiner.stderr.String(), "another --cluster-name") || !strings.Contains(seed.stderr.String(), "its_cluster_name=other") {
		t.Fatalf("joiner log:\n%s\nseed log:\n%s", joiner.stderr, seed.stderr)
	}
	for _, line := range strings.Split(joiner.stderr.String()+seed.stderr.String(), "\n") {
		if strings.Contains(line, "cluster name") || strings.Contains(line, "cluster-name") {
			t.Logf("%s", line)
		}
	}
}

// A joiner that holds the cluster's gossip key but disagrees with it on
// TLS meets its members through gossip, and its log says why Join fails:
// no TLS against a TLS member, or a certificate of another CA.
func TestCluster_joinerTLSMismatchSaysWhy(t *testing.T) {
	c := startTLSCluster(t)
	args := c.nodes[0].args
	seed := args[len(args)-1-indexOf(reversed(args), "--gossip-addr")+1] // the last --gossip-addr given wins
	gossipKey := filepath.Join(c.certs, security.GossipKeyFile)

	plain := spawn(t, nodeOpts{args: []string{"--node-id", "n3", "--join", seed, "--gossip-key-file", gossipKey}})

	other := filepath.Join(t.TempDir(), "other")
	certs(t, "create-ca", "--dir", other)
	certs(t, "create-node", "n4", "--host", "127.0.0.1,localhost", "--dir", other)
	foreign := spawn(t, nodeOpts{args: []string{"--node-id", "n4", "--join", seed, "--gossip-key-file", gossipKey,
		"--tls-cert", filepath.Join(other, security.NodeCertFile("n4")), "--tls-key", filepath.Join(other, security.NodeKeyFile("n4")),
		"--tls-ca", filepath.Join(other, security.CACertFile)}})

	for _, tc := range []struct {
		p    *nodeProc
		want string
	}{
		{plain, "runs with --tls-* and this node without"},
		{foreign, "must be signed by the same --tls-ca"},
	} {
		if !waitFor(20*time.Second, func() bool { return strings.Contains(tc.p.stderr.String(), tc.want) }) {
			t.Fatalf("the joiner does not say %q:\n%s", tc.want, tc.p.stderr)
		}
		for _, line := range strings.Split(tc.p.stderr.String(), "\n") {
			if strings.Contains(line, tc.want) {
				t.Logf("%s", line)
			}
		}
	}
}

// waitFor polls cond until it holds or d has passed, and reports whether
// it held.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) { // polling a condition
		if cond() {
			return true
		}
	}
	return cond()
}

// reversed returns a reversed copy of s.
func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[len(s)-1-i] = x
	}
	return out
}
