package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/cluster"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// metaGossipKeys holds the gossip keyring after a rotation: the keys,
// GossipKeySize bytes each, the primary first. It wins over
// --gossip-key-file, so a restart after a rotation keeps its place.
const metaGossipKeys = "gossip_keyring"

// keyringFanoutTimeout bounds each member's KeyringApply call.
const keyringFanoutTimeout = 5 * time.Second

// gossipKeys returns the keys the node starts with: those persisted by a
// rotation, else those of --gossip-key-file, else none.
func gossipKeys(cfg Config, eng *storage.Engine, log *slog.Logger) ([][]byte, error) {
	raw, ok, err := eng.Meta(metaGossipKeys)
	if err != nil {
		return nil, err
	}
	if ok && len(raw) > 0 {
		if len(raw)%cluster.GossipKeySize != 0 {
			return nil, fmt.Errorf("data dir %q: the persisted gossip keyring is corrupt (%d bytes)", cfg.DataDir, len(raw))
		}
		var keys [][]byte
		for k := range slices.Chunk(raw, cluster.GossipKeySize) {
			keys = append(keys, slices.Clone(k))
		}
		log.Info("gossip keyring loaded from the data dir (set by a rotation; it wins over --gossip-key-file)",
			"keys", len(keys), "gossip_key_file", cfg.GossipKeyFile)
		return keys, nil
	}
	if cfg.GossipKeyFile == "" {
		return nil, nil
	}
	return readGossipKeys(cfg.GossipKeyFile)
}

// persistGossipKeys is the membership's OnKeyringChange.
func (n *node) persistGossipKeys(keys [][]byte) error {
	return n.store.PutMeta(metaGossipKeys, slices.Concat(keys...))
}

// dialPeer opens a connection of its own to a member's peer address, for
// the peer RPCs made outside the peer pool (Join, KeyringApply).
func (n *node) dialPeer(addr string) (*grpc.ClientConn, error) {
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(replication.MaxMessageBytes)),
	}, n.peerDialOptions()...)
	return grpc.NewClient(addr, opts...)
}

// serveKeyringApply is Replica.KeyringApply: a member applies a keyring
// change here. The caller must prove a gossip key for this very change,
// and present a node certificate when TLS is on.
func (n *node) serveKeyringApply(ctx context.Context, req *pb.KeyringApplyRequest) (*pb.KeyringApplyResponse, error) {
	m := n.members.Load()
	if m == nil {
		return nil, status.Error(codes.Unavailable, "membership not started")
	}
	if n.peerAuth != nil {
		if err := n.peerAuth(ctx); err != nil {
			return nil, status.Error(codes.PermissionDenied, err.Error())
		}
	}
	if err := m.VerifyKeyringProof(req); err != nil {
		n.log.Warn("refused a keyring change", "from", req.GetNodeId(), "err", err)
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	keys, err := applyKeyring(m, req.GetOp(), req.GetKey())
	if err != nil {
		return nil, err
	}
	return &pb.KeyringApplyResponse{Keys: keys}, nil
}

// applyKeyring applies op on this node, errors as gRPC statuses.
func applyKeyring(m *cluster.Membership, op pb.KeyringOp, key []byte) ([][]byte, error) {
	kop, ok := cluster.KeyOpFromProto(op)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown keyring op %v", op)
	}
	keys, err := m.ChangeKeyring(kop, key)
	switch {
	case err == nil:
		return keys, nil
	case errors.Is(err, cluster.ErrNotEncrypted), errors.Is(err, cluster.ErrKeyring):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return nil, status.Error(codes.Internal, err.Error())
}

// keyringFanout applies op on this node and then, in parallel, on every
// other alive member, and reports each one's keys or error: this node
// first, then the members by id. A refusal here stops it before any
// member is asked.
func (n *node) keyringFanout(ctx context.Context, op pb.KeyringOp, key []byte) ([]*pb.NodeKeyring, error) {
	m := n.members.Load()
	if m == nil {
		return nil, status.Error(codes.Unavailable, "membership not started")
	}
	if op != pb.KeyringOp_KEYRING_OP_UNSPECIFIED && len(key) != cluster.GossipKeySize {
		return nil, status.Errorf(codes.InvalidArgument, "key has %d bytes, want %d (AES-256)", len(key), cluster.GossipKeySize)
	}
	keys, err := applyKeyring(m, op, key)
	if err != nil {
		return nil, err
	}
	out := []*pb.NodeKeyring{{NodeId: n.cfg.NodeID, Keys: keys}}
	req, err := m.KeyringRequest(op, key)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	var others []cluster.MemberStatus
	for _, ms := range m.Members() {
		if ms.ID != n.cfg.NodeID && ms.Liveness == cluster.LivenessAlive && ms.DialAddr() != "" {
			others = append(others, ms)
		}
	}
	results := make([]*pb.NodeKeyring, len(others))
	var wg sync.WaitGroup
	for i, ms := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &pb.NodeKeyring{NodeId: ms.ID}
			results[i] = res
			cctx, cancel := context.WithTimeout(ctx, keyringFanoutTimeout)
			defer cancel()
			conn, err := n.dialPeer(ms.DialAddr())
			if err != nil {
				res.Error = err.Error()
				return
			}
			defer func() { _ = conn.Close() }()
			resp, err := pb.NewReplicaClient(conn).KeyringApply(cctx, req)
			if err != nil {
				res.Error = status.Convert(err).Message()
				return
			}
			res.Keys = resp.GetKeys()
		}()
	}
	wg.Wait()
	return append(out, results...), nil
}

func (s *kvServer) KeyringList(ctx context.Context, _ *pb.KeyringListRequest) (*pb.KeyringListResponse, error) {
	nodes, err := s.n.keyringFanout(ctx, pb.KeyringOp_KEYRING_OP_UNSPECIFIED, nil)
	if err != nil {
		return nil, err
	}
	return &pb.KeyringListResponse{Nodes: nodes}, nil
}

func (s *kvServer) KeyringChange(ctx context.Context, req *pb.KeyringChangeRequest) (*pb.KeyringChangeResponse, error) {
	if req.GetOp() == pb.KeyringOp_KEYRING_OP_UNSPECIFIED {
		return nil, status.Error(codes.InvalidArgument, "no keyring op: use install, use or remove")
	}
	nodes, err := s.n.keyringFanout(ctx, req.GetOp(), req.GetKey())
	if err != nil {
		return nil, err
	}
	return &pb.KeyringChangeResponse{Nodes: nodes}, nil
}

func (s *replicaServer) KeyringApply(ctx context.Context, req *pb.KeyringApplyRequest) (*pb.KeyringApplyResponse, error) {
	return s.keyring(ctx, req)
}
