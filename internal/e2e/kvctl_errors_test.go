package e2e

import (
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/internal/testkit"
)

// TestKvctl_wrongPortOfANode points kvctl at the ports of a running node
// that are not its gRPC port: the error names the address as not a
// quorumkv gRPC endpoint instead of passing on a transport error.
func TestKvctl_wrongPortOfANode(t *testing.T) {
	gossip := testkit.FreeAddr(t)
	n := startNode(t, nodeOpts{args: []string{"--gossip-addr", gossip}})
	for name, addr := range map[string]string{"metrics": n.metrics, "gossip": gossip} {
		t.Run(name, func(t *testing.T) {
			r := kvctl(t, addr, nil, "--timeout", "2s", "get", "k")
			checkResult(t, r, 4, []string{addr + " is not a quorumkv gRPC endpoint"}, []string{"get", "k"})
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
	// The node's own gRPC port still answers.
	if r := kvctl(t, n.grpc, nil, "get", "k"); r.code != 1 || strings.Contains(r.stderr, "not a quorumkv") {
		t.Fatalf("get on the gRPC port: %v", r)
	}
}

// TestCluster_failedAllOperationsWithANodeDown: with one of three nodes
// down, an ALL delete says it is a delete that could not read, and a
// failed get -o json prints its receipt without a values list that would
// read as a missing key.
func TestCluster_failedAllOperationsWithANodeDown(t *testing.T) {
	c := launch(t, 3)
	c.must(1, "put", "k", "v", "-c", "all")
	c.kill9(3)

	r := c.ctl(1, "delete", "k", "-c", "all")
	checkResult(t, r, 3, []string{"error: ALL delete: 2 of 3 required answers to its read (n3 ", "; applied nowhere"}, []string{"delete", "k", "-c", "all"})

	r = c.ctl(1, "-o", "json", "get", "k", "-c", "all")
	checkResult(t, r, 3, []string{"error: ALL read: 2 of 3 required answers (n3 "}, []string{"-o", "json", "get", "k", "-c", "all"})
	obj := jsonOf(t, r.stdout)
	if _, ok := obj["values"]; ok {
		t.Errorf("a failed get prints values: %s", r.stdout)
	}
	if rc, ok := obj["receipt"].(map[string]any); !ok || rc["level"] != "all" {
		t.Errorf("a failed get prints no receipt: %s", r.stdout)
	}
	if got := c.must(1, "get", "k", "-c", "quorum"); got != "v\n" {
		t.Errorf("after the failed delete, get = %q, want v", got)
	}
}
