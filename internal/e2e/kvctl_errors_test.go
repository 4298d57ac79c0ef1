package e2e

import (
	"strings"
	"testing"
)

// TestKvctl_wrongPortOfANode points kvctl at the ports of a running node
// that are not its gRPC port: the error names the address as not a
// quorumkv gRPC endpoint instead of passing on a transport error.
func TestKvctl_wrongPortOfANode(t *testing.T) {
	gossip := freeAddr(t)
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
