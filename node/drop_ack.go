package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// handOffAckTimeout bounds each member's HandOffAck call.
const handOffAckTimeout = 5 * time.Second

// askHandOffAck asks member which of parts its ring still makes this node
// a write target of (Replica.HandOffAck), over the peer pool.
func (n *node) askHandOffAck(ctx context.Context, member string, parts []keyspace.Partition) ([]keyspace.Partition, error) {
	c, err := n.conns.ReplicaClient(member)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", member, err)
	}
	req := &pb.HandOffAckRequest{NodeId: n.cfg.NodeID, Partitions: make([]uint32, len(parts))}
	for i, p := range parts {
		req.Partitions[i] = uint32(p)
	}
	ctx, cancel := context.WithTimeout(ctx, handOffAckTimeout)
	defer cancel()
	resp, err := c.HandOffAck(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", member, err)
	}
	out := make([]keyspace.Partition, len(resp.GetTargeted()))
	for i, p := range resp.GetTargeted() {
		out[i] = keyspace.Partition(p)
	}
	return out, nil
}

// serveHandOffAck is Replica.HandOffAck: it answers which of the
// partitions asked this node's ring makes the caller a write target of.
// With TLS on, the authorizer has checked that node_id is the caller's
// node certificate (security's claimsNodeID).
func (n *node) serveHandOffAck(_ context.Context, req *pb.HandOffAckRequest) (*pb.HandOffAckResponse, error) {
	r := ringView{n}.Load()
	if r == nil {
		return nil, status.Error(codes.Unavailable, "no ring yet: this node has not joined a cluster")
	}
	if req.GetNodeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "no node_id")
	}
	targeted, err := handOffTargeted(r, req.GetNodeId(), req.GetPartitions())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &pb.HandOffAckResponse{Targeted: targeted}, nil
}

// handOffTargeted returns, ascending, the partitions of parts whose write
// targets on r (current or pending replicas) include id. parts must be
// distinct and each in [0, Q).
func handOffTargeted(r *ring.Ring, id string, parts []uint32) ([]uint32, error) {
	seen := make(map[uint32]bool, len(parts))
	var out []uint32
	for _, p := range parts {
		switch {
		case int(p) >= r.Q():
			return nil, fmt.Errorf("partition %d out of range: there are %d", p, r.Q())
		case seen[p]:
			return nil, fmt.Errorf("partition %d asked twice", p)
		}
		seen[p] = true
		if slices.Contains(r.WriteTargets(int(p)), id) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (s *replicaServer) HandOffAck(ctx context.Context, req *pb.HandOffAckRequest) (*pb.HandOffAckResponse, error) {
	return s.handOffAck(ctx, req)
}
