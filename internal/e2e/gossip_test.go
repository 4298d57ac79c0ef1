package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeKeyFile writes a --gossip-key-file holding keys.
func writeKeyFile(t *testing.T, keys ...[]byte) string {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	path := filepath.Join(t.TempDir(), "gossip.keys")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCluster_gossipKey: three processes with a gossip key form a cluster
// (n2 and n3 adopt the settings over Join) and serve; a kvnode without the
// key that joins n1's gossip address learns nothing and stays not joined;
// a rotation through kvctl keyring keeps every member alive, and a member
// restarted afterwards with its old key file comes back on its persisted
// keyring.
func TestCluster_gossipKey(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{0x11}, 32), bytes.Repeat([]byte{0x22}, 32)
	keyFile := writeKeyFile(t, k1)
	c := launch(t, 3, "--gossip-key-file", keyFile)
	for i := 1; i <= 3; i++ {
		if ms := c.members(i); len(ms) != 3 {
			t.Fatalf("n%d sees %d members", i, len(ms))
		}
	}
	c.must(1, "put", "k", "v", "-c", "all")
	if got := c.must(3, "get", "k", "-c", "one"); got != "v\n" {
		t.Fatalf("get on n3: %q", got)
	}

	// An outsider without the key.
	seed := fmt.Sprintf("127.0.0.1:%d", c.base+101)
	out := spawn(t, nodeOpts{args: []string{"--node-id", "x9", "--join", seed, "--cluster-name", "dev"}}) // the cluster's name, not its key
	eventually(t, 20*time.Second, "the outsider says it lacks the gossip key", func() bool {
		return strings.Contains(out.stderr.String(), "not joined: a seed cannot be joined") &&
			strings.Contains(out.stderr.String(), "this node has no gossip key")
	})
	if r := kvctl(t, out.grpc, nil, "get", "k"); r.code == 0 {
		t.Fatalf("the outsider serves: %v", r)
	}
	if _, ok := c.members(1)["x9"]; ok {
		t.Fatal("n1 lists the outsider")
	}

	b64 := base64.StdEncoding.EncodeToString
	c.must(1, "keyring", "install", b64(k2))
	c.must(2, "keyring", "use", b64(k2))
	c.must(3, "keyring", "remove", b64(k1))
	var list struct {
		Nodes []struct {
			NodeID string   `json:"node_id"`
			Keys   [][]byte `json:"keys"`
		}
	}
	if err := json.Unmarshal([]byte(c.must(1, "-o", "json", "keyring", "list")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Nodes) != 3 {
		t.Fatalf("keyring list: %+v", list)
	}
	for _, n := range list.Nodes {
		if len(n.Keys) != 1 || !bytes.Equal(n.Keys[0], k2) {
			t.Fatalf("%s keys after the rotation: %d", n.NodeID, len(n.Keys))
		}
	}
	c.must(2, "put", "k2", "v2", "-c", "all")

	c.kill9(3)
	eventually(t, 20*time.Second, "n3 dead on n1", func() bool { return c.members(1)["n3"].State == "dead" })
	c.script("start") // n3 again, with the key file of k1 only
	eventually(t, 30*time.Second, "n3 alive again", func() bool { return c.members(1)["n3"].State == "alive" })
	for i := 1; i <= 3; i++ {
		for id, m := range c.members(i) {
			if m.State != "alive" {
				t.Fatalf("n%d sees %s %s", i, id, m.State)
			}
		}
	}
}
