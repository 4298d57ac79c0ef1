package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// sameKeys reports why a keyring answer is not want on every node.
func sameKeys(nodes []client.NodeKeyring, count int, want ...[]byte) error {
	if len(nodes) != count {
		return fmt.Errorf("%d nodes answered, want %d", len(nodes), count)
	}
	for _, n := range nodes {
		if n.Error != "" {
			return fmt.Errorf("%s: %s", n.NodeID, n.Error)
		}
		if len(n.Keys) != len(want) {
			return fmt.Errorf("%s has %d keys, want %d", n.NodeID, len(n.Keys), len(want))
		}
		for i := range want {
			if !bytes.Equal(n.Keys[i], want[i]) {
				return fmt.Errorf("%s key %d differs", n.NodeID, i)
			}
		}
	}
	return nil
}

// A key rotation through the client API (install, use, remove) reaches
// every member and keeps them all alive; a member restarted afterwards
// with its old key file starts from its persisted keyring and rejoins.
func TestNode_keyringRotationKeepsMembersAlive(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	keyFile := writeGossipKeys(t, k1)
	cfg := func(id string, join ...string) Config {
		c := testConfig(t, dir, id, join...)
		c.GossipKeyFile = keyFile
		return c
	}
	n1 := start(t, cfg("n1"))
	seed := n1.n.cfg.GossipAddr
	n2 := start(t, cfg("n2", seed))
	c3 := cfg("n3", seed)
	n3 := start(t, c3)
	await(t, 30*time.Second, "three alive normal members", func() error { return allNormal([]*testNode{n1, n2, n3}, 3) })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.New([]string{n1.n.grpcAddr}, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.KeyringChange(ctx, client.KeyUse, bytes.Repeat([]byte{9}, 32)); !errors.Is(err, client.ErrFailedPrecondition) {
		t.Fatalf("using a key not installed = %v, want ErrFailedPrecondition", err)
	}
	steps := []struct {
		op   client.KeyringOp
		key  []byte
		want [][]byte
	}{
		{client.KeyInstall, k2, [][]byte{k1, k2}},
		{client.KeyUse, k2, [][]byte{k2, k1}},
		{client.KeyRemove, k1, [][]byte{k2}},
	}
	for _, s := range steps {
		nodes, err := c.KeyringChange(ctx, s.op, s.key)
		if err != nil {
			t.Fatalf("keyring op %d: %v", s.op, err)
		}
		if err := sameKeys(nodes, 3, s.want...); err != nil {
			t.Fatalf("after op %d: %v", s.op, err)
		}
	}
	nodes, err := c.KeyringList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameKeys(nodes, 3, k2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, []byte("k"), []byte("v"), client.WithConsistency(client.All)); err != nil {
		t.Fatalf("put at ALL after the rotation: %v", err)
	}

	// n3 restarts with the key file that holds k1 only: it starts from
	// its persisted keyring (k2), so it gossips with the others again.
	n3.stop(t)
	n3 = start(t, c3)
	await(t, 30*time.Second, "n3 back, three alive normal members", func() error {
		return allNormal([]*testNode{n1, n2, n3}, 3)
	})
	if got := n3.n.members.Load().GossipKeys(); len(got) != 1 || !bytes.Equal(got[0], k2) {
		t.Fatalf("n3 restarted with %d keys", len(got))
	}
	if _, err := c.Put(ctx, []byte("k2"), []byte("v"), client.WithConsistency(client.All)); err != nil {
		t.Fatalf("put at ALL after n3's restart: %v", err)
	}
}

// Without a gossip key there is no keyring to list or change.
func TestNode_keyringWithoutGossipKey(t *testing.T) {
	n1 := start(t, testConfig(t, t.TempDir(), "n1"))
	c, err := client.New([]string{n1.n.grpcAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.KeyringList(ctx); !errors.Is(err, client.ErrFailedPrecondition) {
		t.Fatalf("KeyringList = %v, want ErrFailedPrecondition", err)
	}
	if _, err := c.KeyringChange(ctx, client.KeyInstall, bytes.Repeat([]byte{2}, 32)); !errors.Is(err, client.ErrFailedPrecondition) {
		t.Fatalf("KeyringChange = %v, want ErrFailedPrecondition", err)
	}
}
