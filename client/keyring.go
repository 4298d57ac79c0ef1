package client

import (
	"context"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// KeyringOp is a change to the cluster's gossip keyring.
type KeyringOp int

// Keyring changes. A rotation is KeyInstall of the new key, KeyUse of it,
// then KeyRemove of the old one.
const (
	// KeyInstall adds a key every member accepts for incoming gossip.
	KeyInstall KeyringOp = iota + 1
	// KeyUse makes an installed key the primary, which seals gossip.
	KeyUse
	// KeyRemove drops a key other than the primary.
	KeyRemove
)

func (op KeyringOp) toProto() quorumkvv1.KeyringOp {
	switch op {
	case KeyInstall:
		return quorumkvv1.KeyringOp_KEYRING_OP_INSTALL
	case KeyUse:
		return quorumkvv1.KeyringOp_KEYRING_OP_USE
	case KeyRemove:
		return quorumkvv1.KeyringOp_KEYRING_OP_REMOVE
	}
	return quorumkvv1.KeyringOp_KEYRING_OP_UNSPECIFIED
}

// NodeKeyring is one member's gossip keys (the primary first), or why
// they are unknown.
type NodeKeyring struct {
	NodeID string   `json:"node_id"`
	Keys   [][]byte `json:"keys"`
	Error  string   `json:"error,omitempty"`
}

func nodeKeyrings(ps []*quorumkvv1.NodeKeyring) []NodeKeyring {
	out := make([]NodeKeyring, 0, len(ps))
	for _, p := range ps {
		out = append(out, NodeKeyring{NodeID: p.GetNodeId(), Keys: p.GetKeys(), Error: p.GetError()})
	}
	return out
}

// KeyringList returns the gossip keys of the answering node and of every
// alive member. It fails with ErrFailedPrecondition when gossip is not
// encrypted.
func (c *Client) KeyringList(ctx context.Context, opts ...CallOption) ([]NodeKeyring, error) {
	var out []NodeKeyring
	err := c.invoke(ctx, c.callConfig(opts), false, func(ctx context.Context, kv quorumkvv1.KVClient) error {
		resp, err := kv.KeyringList(ctx, &quorumkvv1.KeyringListRequest{})
		if err != nil {
			return err
		}
		out = nodeKeyrings(resp.GetNodes())
		return nil
	})
	return out, err
}

// KeyringChange applies op with key (32 bytes) on the answering node and
// every alive member, and returns each one's keys after it or its error.
// It fails with ErrFailedPrecondition when gossip is not encrypted or the
// answering node refuses the change.
func (c *Client) KeyringChange(ctx context.Context, op KeyringOp, key []byte, opts ...CallOption) ([]NodeKeyring, error) {
	var out []NodeKeyring
	err := c.invoke(ctx, c.callConfig(opts), false, func(ctx context.Context, kv quorumkvv1.KVClient) error {
		resp, err := kv.KeyringChange(ctx, &quorumkvv1.KeyringChangeRequest{Op: op.toProto(), Key: key})
		if err != nil {
			return err
		}
		out = nodeKeyrings(resp.GetNodes())
		return nil
	})
	return out, err
}
