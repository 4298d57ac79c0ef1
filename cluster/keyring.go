package cluster

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
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

// KeyOp is a change to the gossip keyring.
type KeyOp int

// Keyring changes.
const (
	// KeyList changes nothing.
	KeyList KeyOp = iota
	// KeyInstall adds a key, accepted for incoming gossip.
	KeyInstall
	// KeyUse makes an installed key the primary, which seals gossip.
	KeyUse
	// KeyRemove drops a key other than the primary.
	KeyRemove
)

// KeyOpFromProto maps the wire op; ok is false for an unknown one.
func KeyOpFromProto(op quorumkvv1.KeyringOp) (KeyOp, bool) {
	switch op {
	case quorumkvv1.KeyringOp_KEYRING_OP_UNSPECIFIED:
		return KeyList, true
	case quorumkvv1.KeyringOp_KEYRING_OP_INSTALL:
		return KeyInstall, true
	case quorumkvv1.KeyringOp_KEYRING_OP_USE:
		return KeyUse, true
	case quorumkvv1.KeyringOp_KEYRING_OP_REMOVE:
		return KeyRemove, true
	}
	return 0, false
}

// GossipKeys returns a copy of the gossip keys, the primary first, or nil
// when gossip is not encrypted.
func (m *Membership) GossipKeys() [][]byte {
	if m.keyring == nil {
		return nil
	}
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	return m.keysLocked()
}

// keysLocked returns a copy of the keys, primary first (memberlist keeps
// the primary first).
func (m *Membership) keysLocked() [][]byte {
	ks := m.keyring.GetKeys()
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = slices.Clone(k)
	}
	return out
}

// ChangeKeyring applies op with key to this node's keyring at once (the
// next message memberlist sends or receives sees it), then hands the new
// keyring to Config.OnKeyringChange to persist, and returns the keys. It
// fails with ErrNotEncrypted when gossip is not encrypted, and with
// ErrKeyring for a key of the wrong size, a use of a key not installed or
// a removal of the primary; installing an installed key, or using the
// primary, changes nothing. Changes are serialized.
func (m *Membership) ChangeKeyring(op KeyOp, key []byte) ([][]byte, error) {
	if m.keyring == nil {
		return nil, ErrNotEncrypted
	}
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	if op == KeyList {
		return m.keysLocked(), nil
	}
	if len(key) != GossipKeySize {
		return nil, fmt.Errorf("%w: key has %d bytes, want %d", ErrKeyring, len(key), GossipKeySize)
	}
	var err error
	switch op {
	case KeyInstall:
		err = m.keyring.AddKey(slices.Clone(key))
	case KeyUse:
		err = m.keyring.UseKey(key)
	case KeyRemove:
		err = m.keyring.RemoveKey(key)
	default:
		err = fmt.Errorf("unknown keyring change %d", op)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyring, err)
	}
	keys := m.keysLocked()
	m.log.Info("gossip keyring changed", "op", int(op), "keys", len(keys))
	if m.cfg.OnKeyringChange != nil {
		if err := m.cfg.OnKeyringChange(keys); err != nil {
			return nil, fmt.Errorf("cluster: persisting the gossip keyring: %w", err)
		}
	}
	return keys, nil
}

// KeyringRequest returns the KeyringApply request this node sends to a
// member for op with key, with a proof made now with its primary key. It
// fails with ErrNotEncrypted when gossip is not encrypted.
func (m *Membership) KeyringRequest(op quorumkvv1.KeyringOp, key []byte) (*quorumkvv1.KeyringApplyRequest, error) {
	if m.keyring == nil {
		return nil, ErrNotEncrypted
	}
	req := &quorumkvv1.KeyringApplyRequest{Op: op, Key: key, NodeId: m.cfg.NodeID, ClusterName: m.cfg.ClusterName,
		UnixTime: time.Now().Unix()}
	req.KeyProof = keyProof(m.keyring.GetPrimaryKey(), proofKeyring, req.ClusterName, req.NodeId, req.UnixTime, keyringPayload(op, key))
	return req, nil
}

// VerifyKeyringProof reports whether req proves, made within a few minutes
// of now and for its op and key, that its sender holds one of this node's
// gossip keys; else it fails with ErrUntrusted.
func (m *Membership) VerifyKeyringProof(req *quorumkvv1.KeyringApplyRequest) error {
	if req.GetClusterName() != m.cfg.ClusterName {
		return fmt.Errorf("%w: cluster name %q, want %q", ErrUntrusted, req.GetClusterName(), m.cfg.ClusterName)
	}
	return m.verifyProof(proofKeyring, req.GetClusterName(), req.GetNodeId(), req.GetUnixTime(),
		keyringPayload(req.GetOp(), req.GetKey()), req.GetKeyProof())
}

func keyringPayload(op quorumkvv1.KeyringOp, key []byte) []byte {
	return append([]byte{byte(op)}, key...)
}
