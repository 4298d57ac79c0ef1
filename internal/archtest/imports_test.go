// Package archtest enforces the dependency directions of DESIGN.md.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/quorumkv/quorumkv/"

// allowed lists, per package, the packages of ours it may import.
var allowed = map[string][]string{
	"keyspace":          {},
	"conflict":          {},
	"cluster/ring":      {},
	"internal/lograte":  {},
	"proto/quorumkv/v1": {},
	"storage":           {"conflict", "keyspace"},
	"cluster":           {"cluster/ring", "internal/lograte", "keyspace", "proto/quorumkv/v1"},
	"replication":       {"conflict", "internal/lograte", "keyspace", "storage", "cluster", "cluster/ring", "proto/quorumkv/v1"},
	// antientropy uses replication's vocabulary (RingView, Clock,
	// ErrNotJoined, ReplicaFailure); replication never imports it.
	"replication/antientropy": {"conflict", "internal/lograte", "keyspace", "storage", "cluster/ring", "proto/quorumkv/v1", "replication"},
	// resp runs commands through a Backend the node implements over the
	// coordinator: it uses replication's vocabulary, never node.
	"resp":   {"replication", "security", "keyspace", "conflict"},
	"client": {"keyspace", "proto/quorumkv/v1"},
	"bench":  {"client", "keyspace", "proto/quorumkv/v1"},
}

func TestImports_followTheLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if dep == "node" && !strings.HasPrefix(pkg, "cmd/") {
				t.Errorf("%s imports node: only cmd/ and tests may", pkg)
			}
			rules, ok := allowed[pkg]
			if !ok {
				continue
			}
			permitted := false
			for _, a := range rules {
				if dep == a {
					permitted = true
				}
			}
			if !permitted {
				t.Errorf("%s imports %s, which DESIGN.md's layering forbids (allowed: %v)", pkg, dep, rules)
			}
		}
	}
}
