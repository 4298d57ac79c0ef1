package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/cluster/ring"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// JoinFunc calls Replica.Join on the peer gRPC server at addr, a member's
// address learnt from its memberlist node meta (its peer address, or its
// gRPC address when it announces none), and returns its answer.
// Membership calls it from its join loop, one call at a time, only while
// the node has no settings; it must return when ctx is done. Membership
// owns neither req nor the answer after the call.
type JoinFunc func(ctx context.Context, addr string, req *quorumkvv1.JoinRequest) (*quorumkvv1.JoinResponse, error)

// maxProofSkew is how far a Join key proof's time may be from the
// receiver's clock.
const maxProofSkew = 5 * time.Minute

// keyProof is the HMAC-SHA256 under key of a request's purpose, identity,
// time and payload (each length-prefixed).
func keyProof(key []byte, purpose, clusterName, nodeID string, unix int64, payload []byte) []byte {
	mac := hmac.New(sha256.New, key)
	for _, s := range [][]byte{[]byte(purpose), []byte(clusterName), []byte(nodeID), payload} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		mac.Write(n[:])
		mac.Write(s)
	}
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(unix))
	mac.Write(t[:])
	return mac.Sum(nil)
}

// Purposes of key proofs: a proof made for one is refused for another.
const (
	proofJoin    = "quorumkv join v1"
	proofKeyring = "quorumkv keyring v1"
)

// joinProof is the key proof of a Join request.
func joinProof(key []byte, clusterName, nodeID string, unix int64) []byte {
	return keyProof(key, proofJoin, clusterName, nodeID, unix, nil)
}

// JoinRequest returns the request this node sends to Join: its identity
// and, when gossip is encrypted, a proof made now with the primary gossip
// key. The caller owns it.
func (m *Membership) JoinRequest() *quorumkvv1.JoinRequest {
	req := &quorumkvv1.JoinRequest{NodeId: m.cfg.NodeID, ClusterName: m.cfg.ClusterName}
	if m.keyring != nil {
		req.UnixTime = time.Now().Unix()
		req.KeyProof = joinProof(m.keyring.GetPrimaryKey(), req.ClusterName, req.NodeId, req.UnixTime)
	}
	return req
}

// VerifyJoinProof reports whether req carries a proof, made within a few
// minutes of now, that its sender holds one of this node's gossip keys.
// It fails with ErrUntrusted when it does not, and always when gossip is
// not encrypted. It is safe for concurrent use.
func (m *Membership) VerifyJoinProof(req *quorumkvv1.JoinRequest) error {
	return m.verifyProof(proofJoin, req.GetClusterName(), req.GetNodeId(), req.GetUnixTime(), nil, req.GetKeyProof())
}

func (m *Membership) verifyProof(purpose, clusterName, nodeID string, unix int64, payload, proof []byte) error {
	if m.keyring == nil {
		return fmt.Errorf("%w: gossip is not encrypted, so no key proof can be checked", ErrUntrusted)
	}
	if skew := time.Since(time.Unix(unix, 0)); skew > maxProofSkew || skew < -maxProofSkew {
		return fmt.Errorf("%w: key proof made %v from this node's clock", ErrUntrusted, skew.Round(time.Second))
	}
	m.keyMu.Lock() // memberlist's RemoveKey shifts the keys in place
	defer m.keyMu.Unlock()
	for _, k := range m.keyring.GetKeys() {
		if hmac.Equal(proof, keyProof(k, purpose, clusterName, nodeID, unix, payload)) {
			return nil
		}
	}
	return fmt.Errorf("%w: the key proof matches none of this node's gossip keys", ErrUntrusted)
}

// Admit answers a Join request: the cluster's settings, secret and member
// table. The caller (the peer service) must have decided that the sender
// may receive the secret (VerifyJoinProof, a node certificate). It fails
// with ErrNotJoined while this node has not joined, and with
// ErrWrongCluster when the request names another cluster. A removed id
// gets the table only, without settings or secret: the joiner refuses
// itself when it finds its id removed there.
func (m *Membership) Admit(req *quorumkvv1.JoinRequest) (*quorumkvv1.JoinResponse, error) {
	if req.GetClusterName() != m.cfg.ClusterName {
		return nil, fmt.Errorf("%w: the joining node's --cluster-name is %q, this cluster's is %q",
			ErrWrongCluster, req.GetClusterName(), m.cfg.ClusterName)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usableLocked(); err != nil {
		return nil, err
	}
	if e, ok := m.table[req.GetNodeId()]; ok && e.State == ring.Removed {
		return &quorumkvv1.JoinResponse{Members: entriesToProto(m.table.sorted())}, nil
	}
	return &quorumkvv1.JoinResponse{
		Settings: settingsToProto(*m.settings),
		Secret:   append([]byte(nil), m.settings.Secret...),
		Members:  entriesToProto(m.table.sorted()),
	}, nil
}

// joinByRPC asks the live memberlist peers, one after the other, for the
// cluster's settings over Join until one answers, and joins with the
// answer. A node without settings calls it after each memberlist join;
// with encrypted gossip, those peers hold the cluster's key.
func (m *Membership) joinByRPC(ml *memberlist.Memberlist) {
	type target struct{ name, addr string }
	var targets []target
	for _, p := range ml.Members() {
		if p.Name == m.cfg.NodeID || p.State != memberlist.StateAlive {
			continue
		}
		var meta quorumkvv1.MemberEntry
		if err := proto.Unmarshal(p.Meta, &meta); err != nil {
			continue
		}
		if addr := entryFromProto(&meta).DialAddr(); addr != "" {
			targets = append(targets, target{p.Name, addr})
		}
	}
	for _, tg := range targets {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.StreamTimeout)
		resp, err := m.cfg.Join(ctx, tg.addr, m.JoinRequest())
		cancel()
		if err != nil {
			args := []any{"member", tg.name, "peer_addr", tg.addr, "err", err}
			if reason := joinRPCReason(tg.name, tg.addr, err); reason != "" {
				args = append(args, "reason", reason)
			}
			m.logLimit.Log(m.ctx, m.log, slog.LevelWarn, "join "+tg.name, "a member refused or failed to hand this node the cluster's settings", args...)
			continue
		}
		m.tryJoin(gossip{
			clusterID: resp.GetSettings().GetClusterId(),
			entries:   entriesFromProto(resp.GetMembers()),
			settings:  resp.GetSettings(),
			secret:    resp.GetSecret(),
		})
		m.mu.Lock()
		done := m.phase != phaseAdopt || m.fatal != nil || m.closing
		m.mu.Unlock()
		if done {
			return
		}
	}
}
