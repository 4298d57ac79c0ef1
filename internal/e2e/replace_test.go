package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// kvnode --replace: a new node takes a dead node's place. It marks the
// dead node removed, joins with its ring tokens, is filled (periodic
// anti-entropy is off: the join's fill alone copies the data) and becomes
// normal, replicating exactly the partitions the dead node did: the same
// ownership and the same keys. Replacing a live node, an unknown one or
// one already replaced, and replacing itself, are refused with exit 2.
func TestCluster_replaceDeadNode(t *testing.T) {
	nodes := startFour(t, "--test-no-anti-entropy")
	n1, n3 := nodes[0], nodes[2]
	gossip := n1.args[indexOf(n1.args, "--gossip-addr")+1]
	writeKeys(t, nodes)
	before := membersOf(t, n1)
	n3Ownership := before["n3"].Ownership
	n3Keys := keysOn(t, n3)
	if n3Keys <= 0 || n3Keys >= ringChangeKeys {
		t.Fatalf("n3 holds %d keys of %d: want a share", n3Keys, ringChangeKeys)
	}

	refused := func(want []string, args ...string) {
		t.Helper()
		p := spawn(t, nodeOpts{args: append([]string{"--join", gossip}, args...)})
		if code := p.exitCode(30 * time.Second); code != 2 {
			t.Fatalf("kvnode %v exited %d, want 2:\n%s", args, code, p.stderr)
		}
		for _, w := range want {
			if !strings.Contains(p.stderr.String(), w) {
				t.Fatalf("kvnode %v: stderr lacks %q:\n%s", args, w, p.stderr)
			}
		}
	}
	refused([]string{"--replace", "own id"}, "--node-id", "n5", "--replace", "n5")
	refused([]string{"--replace", `cannot replace "n3"`, "n3 is alive", "kvctl leave"}, "--node-id", "n5", "--replace", "n3")
	refused([]string{"--replace", "no member"}, "--node-id", "n5", "--replace", "n9")

	n3.kill9()
	eventually(t, 30*time.Second, "n3 dead on n1", func() bool { return membersOf(t, n1)["n3"].State == "dead" })
	n5 := startNode(t, nodeOpts{args: []string{"--node-id", "n5", "--join", gossip, "--replace", "n3", "--test-no-anti-entropy"}})
	for _, p := range []*nodeProc{n1, nodes[1], nodes[3], n5} {
		eventually(t, time.Minute, "n5 normal in n3's place", func() bool {
			m := membersOf(t, p)
			return m["n3"].RingState == "removed" && m["n3"].Ownership == 0 &&
				m["n5"].RingState == "normal" && m["n5"].State == "alive" && m["n5"].Ownership == n3Ownership
		})
	}
	if m := membersOf(t, n1); m["n5"].Replaces != "n3" || m["n4"].Replaces != "" {
		t.Fatalf("members: n5 replaces %q, n4 %q; want n3 and none", m["n5"].Replaces, m["n4"].Replaces)
	}
	if out := n1.must("members"); !strings.Contains(out, "REPLACES") || !regexp.MustCompile(`(?m)^n5 .* n3\s*$`).MatchString(out) {
		t.Fatalf("kvctl members does not show n5 replacing n3:\n%s", out)
	}
	if got := keysOn(t, n5); got != n3Keys {
		t.Fatalf("n5 holds %d keys, n3 held %d", got, n3Keys)
	}
	readAllAtAll(t, n1)
	readAllAtAll(t, n5)
	// Nothing else moved: the others own what they owned before n3 died.
	after := membersOf(t, n1)
	for _, id := range []string{"n1", "n2", "n4"} {
		if after[id].Ownership != before[id].Ownership || after[id].RingState != "normal" {
			t.Fatalf("%s after the replace: %+v, before: %+v", id, after[id], before[id])
		}
	}

	refused([]string{"--replace", "n5 owns its ring tokens"}, "--node-id", "n6", "--replace", "n3")
	// The replaced id stays refused.
	back := spawn(t, nodeOpts{args: []string{"--node-id", "n3", "--join", gossip}})
	if code := back.exitCode(30 * time.Second); code == 0 || !strings.Contains(back.stderr.String(), "was removed from the cluster") {
		t.Fatalf("n3 back with an empty data dir exited %d:\n%s", code, back.stderr)
	}
}
