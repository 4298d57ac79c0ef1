package cluster

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

// GossipKeySize is the size of a gossip encryption key: AES-256.
const GossipKeySize = 32

// checkGossipKeys accepts distinct keys of GossipKeySize bytes.
func checkGossipKeys(keys [][]byte) error {
	for i, k := range keys {
		if len(k) != GossipKeySize {
			return fmt.Errorf("key %d has %d bytes, want %d (AES-256)", i+1, len(k), GossipKeySize)
		}
		for _, o := range keys[:i] {
			if bytes.Equal(k, o) {
				return fmt.Errorf("key %d appears twice", i+1)
			}
		}
	}
	return nil
}

// newKeyring returns memberlist's keyring of keys, the first one primary,
// or nil for no keys.
func newKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	cp := make([][]byte, len(keys))
	for i, k := range keys {
		cp[i] = slices.Clone(k)
	}
	kr, err := memberlist.NewKeyring(cp, cp[0])
	if err != nil {
		return nil, fmt.Errorf("%w: GossipKeys: %w", ErrInvalidConfig, err)
	}
	return kr, nil
}

// Encrypted reports whether gossip is encrypted and authenticated (the
// node was given GossipKeys).
func (m *Membership) Encrypted() bool { return m.keyring != nil }
