package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

// A rotation applied on every member in turn (install, use, remove) keeps
// them converged and alive: each step is done everywhere before the next.
func TestMembership_ChangeKeyring_rotationKeepsMembersAlive(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	n2, n3 := c.node(2, n1), c.node(3, n1)
	var mu sync.Mutex
	saved := map[string][][]byte{}
	for _, n := range []*node{n1, n2, n3} {
		n.onKeys = func(keys [][]byte) error {
			mu.Lock()
			defer mu.Unlock()
			saved[n.id] = keys
			return nil
		}
	}
	c.bootstrap(n1)
	c.start(n2, nil)
	c.start(n3, nil)
	all := []*node{n1, n2, n3}
	eventually(t, converge, "converged", func() error { return converged(all, "n1", "n2", "n3") })
	k2 := []byte("the-next-gossip-key-of-the-tests")
	for _, step := range []struct {
		op  KeyOp
		key []byte
	}{{KeyInstall, k2}, {KeyUse, k2}, {KeyRemove, testGossipKey}} {
		for _, n := range all {
			if _, err := n.m.ChangeKeyring(step.op, step.key); err != nil {
				t.Fatalf("%s op %d: %v", n.id, step.op, err)
			}
		}
	}
	for _, n := range all {
		if ks := n.m.GossipKeys(); len(ks) != 1 || !bytes.Equal(ks[0], k2) {
			t.Fatalf("%s keys: %q", n.id, ks)
		}
		mu.Lock()
		ks := saved[n.id]
		mu.Unlock()
		if len(ks) != 1 || !bytes.Equal(ks[0], k2) {
			t.Fatalf("%s persisted %q", n.id, ks)
		}
	}
	// Gossip still flows, sealed with the new key.
	if err := n3.m.SetState(ring.Normal); err != nil {
		t.Fatal(err)
	}
	eventually(t, converge, "n3 normal everywhere, all alive", func() error {
		for _, n := range all {
			if e, _ := entry(n, "n3"); e.State != ring.Normal {
				return fmt.Errorf("%s sees n3 %v", n.id, e.State)
			}
		}
		return converged(all, "n1", "n2", "n3")
	})
}

func TestMembership_ChangeKeyring_refusals(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	c.bootstrap(n1)
	other := []byte("a-key-that-is-not-installed-32by")
	for name, tt := range map[string]struct {
		op  KeyOp
		key []byte
	}{
		"short key":            {KeyInstall, []byte("short")},
		"use a key not in use": {KeyUse, other},
		"remove the primary":   {KeyRemove, testGossipKey},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := n1.m.ChangeKeyring(tt.op, tt.key); !errors.Is(err, ErrKeyring) {
				t.Fatalf("ChangeKeyring = %v, want ErrKeyring", err)
			}
		})
	}
	if ks, err := n1.m.ChangeKeyring(KeyList, nil); err != nil || len(ks) != 1 {
		t.Fatalf("KeyList = %q, %v", ks, err)
	}
	plain := newTestCluster(t)
	plain.keys = nil
	p1 := plain.node(1)
	plain.bootstrap(p1)
	if _, err := p1.m.ChangeKeyring(KeyInstall, other); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("ChangeKeyring without keys = %v", err)
	}
	if p1.m.GossipKeys() != nil {
		t.Fatal("keys without encryption")
	}
}
