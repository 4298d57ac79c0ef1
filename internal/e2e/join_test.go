package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"
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
}
