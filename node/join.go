package node

import (
	"context"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/cluster"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// The cluster's settings and secret are never gossiped: a node started
// with --join on an empty data dir asks a member it met through gossip
// for them, over Replica.Join on the member's peer listener. The member
// answers a caller it trusts (authorizeJoin):
//
//   - with TLS (peerAuth set): the caller presented a node certificate of
//     the cluster's CA, and, as gossip is then encrypted, proves a gossip
//     key too;
//   - without TLS, with encrypted gossip: the caller proves it holds one of
//     the gossip keys (an HMAC of its id, the cluster name and the time,
//     cluster.VerifyJoinProof). The answer then crosses the network in
//     clear: only TLS keeps an eavesdropper from reading the secret, so
//     off loopback run TLS (kvnode refuses plain non-loopback listeners
//     unless --insecure);
//   - without TLS and without a gossip key: a caller on loopback (a
//     development cluster on one machine, where every local process is
//     trusted), or any caller when the node runs with --insecure: the
//     operator declared the network trusted (a plain node off loopback
//     must run with it).
//
// Anyone else gets PERMISSION_DENIED and learns nothing.

// joinVia is the membership's cluster.JoinFunc: one Join call to the
// member's peer listener at addr, on a connection of its own.
func (n *node) joinVia(ctx context.Context, addr string, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	conn, err := n.dialPeer(addr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	return pb.NewReplicaClient(conn).Join(ctx, req)
}

// serveJoin is Replica.Join: it answers a trusted caller with the
// cluster's settings, secret and member table.
func (n *node) serveJoin(ctx context.Context, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	m := n.members.Load()
	if m == nil {
		return nil, status.Error(codes.Unavailable, "membership not started")
	}
	if err := n.authorizeJoin(ctx, m, req); err != nil {
		n.log.Warn("refused a Join request", "node_id", req.GetNodeId(), "err", err)
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	resp, err := m.Admit(req)
	switch {
	case err == nil:
		n.log.Info("handed the cluster's settings to a joining node", "node_id", req.GetNodeId())
		return resp, nil
	case errors.Is(err, cluster.ErrWrongCluster):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, cluster.ErrNotJoined), errors.Is(err, cluster.ErrClosed), errors.Is(err, cluster.ErrRemoved):
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return nil, status.Error(codes.Internal, err.Error())
}

// authorizeJoin applies the trust rule above.
func (n *node) authorizeJoin(ctx context.Context, m *cluster.Membership, req *pb.JoinRequest) error {
	if n.peerAuth != nil {
		if err := n.peerAuth(ctx); err != nil {
			return err
		}
	}
	if m.Encrypted() {
		return m.VerifyJoinProof(req)
	}
	if n.peerAuth != nil || n.cfg.Insecure {
		return nil
	}
	if p, ok := peer.FromContext(ctx); ok {
		if a, ok := p.Addr.(*net.TCPAddr); ok && a.IP.IsLoopback() {
			return nil
		}
		return fmt.Errorf("caller %s is not on loopback, and without TLS, a gossip key or --insecure this node cannot tell a member from anyone", p.Addr)
	}
	return errors.New("caller address unknown")
}
