package node

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
)

// kvServer is the client API's gRPC edge: it converts, calls the
// coordinator and translates errors. It holds no logic of its own.
type kvServer struct {
	pb.UnimplementedKVServer
	n *node
}

var _ pb.KVServer = (*kvServer)(nil)

func levelFromProto(c pb.Consistency) (replication.Level, error) {
	switch c {
	case pb.Consistency_CONSISTENCY_ONE:
		return replication.One, nil
	case pb.Consistency_CONSISTENCY_UNSPECIFIED, pb.Consistency_CONSISTENCY_QUORUM:
		return replication.Quorum, nil
	case pb.Consistency_CONSISTENCY_ALL:
		return replication.All, nil
	}
	return 0, status.Errorf(codes.InvalidArgument, "unknown consistency level %d: use one, quorum or all", c)
}

func levelToProto(l replication.Level) pb.Consistency {
	switch l {
	case replication.One:
		return pb.Consistency_CONSISTENCY_ONE
	case replication.All:
		return pb.Consistency_CONSISTENCY_ALL
	}
	return pb.Consistency_CONSISTENCY_QUORUM
}

func receiptToProto(r replication.Receipt) *pb.Receipt {
	out := &pb.Receipt{
		Coordinator:  r.Coordinator,
		Level:        levelToProto(r.Level),
		Required:     uint32(r.Required),
		Acknowledged: r.Acknowledged,
		Pending:      r.Pending,
		Applied:      pb.Applied(r.Applied), // same order, APPLIED_NONE = 1
		ReadRepair:   r.ReadRepair,
		HintsWritten: uint32(r.HintsWritten),
	}
	for _, f := range r.Failed {
		out.Failed = append(out.Failed, &pb.ReplicaFailure{Id: f.ID, Reason: f.Reason})
	}
	return out
}

// toStatus is the one translation table from domain errors to gRPC codes.
// The message is the domain error's one line; the receipt rides along as a
// status detail so a failed command still shows what happened.
func toStatus(err error, r *pb.Receipt) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var qe *replication.QuorumError
	code := codes.Internal
	switch {
	case errors.Is(err, replication.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, replication.ErrWrongType), errors.Is(err, replication.ErrTooManySiblings):
		code = codes.FailedPrecondition
	case errors.As(err, &qe), errors.Is(err, replication.ErrNotJoined):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	st := status.New(code, err.Error())
	if r != nil {
		if withR, derr := st.WithDetails(r); derr == nil {
			st = withR
		}
	}
	return st.Err()
}

func (s *kvServer) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	level, err := levelFromProto(req.Consistency)
	if err != nil {
		return nil, err
	}
	res, err := s.n.coord.Get(ctx, req.Key, level)
	r := receiptToProto(res.Receipt)
	if err != nil {
		return nil, toStatus(err, r)
	}
	return &pb.GetResponse{Found: res.Found, Values: res.Values, Context: res.Token, Receipt: r}, nil
}

func (s *kvServer) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	level, err := levelFromProto(req.Consistency)
	if err != nil {
		return nil, err
	}
	rec, err := s.n.coord.Put(ctx, req.Key, req.Value, req.Context, level)
	r := receiptToProto(rec)
	if err != nil {
		return nil, toStatus(err, r)
	}
	return &pb.PutResponse{Receipt: r}, nil
}

func (s *kvServer) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	level, err := levelFromProto(req.Consistency)
	if err != nil {
		return nil, err
	}
	rec, err := s.n.coord.Delete(ctx, req.Key, level)
	r := receiptToProto(rec)
	if err != nil {
		return nil, toStatus(err, r)
	}
	return &pb.DeleteResponse{Receipt: r}, nil
}

func (s *kvServer) SetAdd(ctx context.Context, req *pb.SetAddRequest) (*pb.SetAddResponse, error) {
	level, err := levelFromProto(req.Consistency)
	if err != nil {
		return nil, err
	}
	rec, err := s.n.coord.SetAdd(ctx, req.Key, req.Members, level)
	r := receiptToProto(rec)
	if err != nil {
		return nil, toStatus(err, r)
	}
	return &pb.SetAddResponse{Receipt: r}, nil
}

func (s *kvServer) SetRemove(ctx context.Context, req *pb.SetRemoveRequest) (*pb.SetRemoveResponse, error) {
	level, err := levelFromProto(req.Consistency)
	if err != nil {
		return nil, err
	}
	rec, err := s.n.coord.SetRemove(ctx, req.Key, req.Members, level)
	r := receiptToProto(rec)
	if err != nil {
		return nil, toStatus(err, r)
	}
	return &pb.SetRemoveResponse{Receipt: r}, nil
}

func (s *kvServer) SetMembers(ctx context.Context, req *pb.SetMembersRequest) (*pb.SetMembersResponse, error) {
	level, err := levelFromProto(req.Consistency)
	if err != nil {
		return nil, err
	}
	res, err := s.n.coord.SetMembers(ctx, req.Key, level)
	r := receiptToProto(res.Receipt)
	if err != nil {
		return nil, toStatus(err, r)
	}
	return &pb.SetMembersResponse{Found: res.Found, Members: res.Members, Receipt: r}, nil
}

// Members lists the cluster: today the node itself, the only member of a
// cluster of one.
func (s *kvServer) Members(ctx context.Context, _ *pb.MembersRequest) (*pb.MembersResponse, error) {
	ringState := pb.RingState_RING_STATE_NORMAL
	if !s.n.cluster.joined {
		ringState = pb.RingState_RING_STATE_JOINING
	}
	return &pb.MembersResponse{Members: []*pb.Member{{
		Id:         s.n.cfg.NodeID,
		GrpcAddr:   s.n.grpcAddr,
		GossipAddr: s.n.cfg.GossipAddr,
		State:      pb.Liveness_LIVENESS_ALIVE,
		RingState:  ringState,
		Ownership:  1,
	}}}, nil
}

// Ring names the partition of a key and its replicas: today the node itself.
func (s *kvServer) Ring(ctx context.Context, req *pb.RingRequest) (*pb.RingResponse, error) {
	if err := s.n.limits.CheckKey(req.Key); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &pb.RingResponse{Partition: uint32(keyspace.PartitionOf(req.Key)), Replicas: []string{s.n.cfg.NodeID}}, nil
}

func (s *kvServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	st := s.n.store.Stats()
	d := s.n.store.Digest()
	return &pb.StatusResponse{
		NodeId:          s.n.cfg.NodeID,
		Joined:          s.n.cluster.joined,
		MembersAlive:    1,
		Keys:            st.Keys,
		Tombstones:      st.Tombstones,
		HintsPending:    st.HintsPending,
		StorageBytes:    uint64(st.StorageBytes),
		LastAntiEntropy: []*pb.AntiEntropyRound{},
		Digest:          d[:],
	}, nil
}

// Repair starts an anti-entropy round. A cluster of one has no peer to
// compare with, so the round is done as soon as it starts.
func (s *kvServer) Repair(ctx context.Context, req *pb.RepairRequest) (*pb.RepairResponse, error) {
	return &pb.RepairResponse{}, nil
}

func (s *kvServer) Leave(ctx context.Context, req *pb.LeaveRequest) (*pb.LeaveResponse, error) {
	return nil, status.Error(codes.Unimplemented, "leave is not built yet: it comes with ring changes")
}

func (s *kvServer) Remove(ctx context.Context, req *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	return nil, status.Error(codes.Unimplemented, fmt.Sprintf("remove %s: not built yet: it comes with ring changes", req.NodeId))
}
