package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/security"
	"github.com/quorumkv/quorumkv/storage"
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
	var (
		qe  *replication.QuorumError
		nre *replication.NotReplicaError
	)
	code := codes.Internal
	switch {
	case errors.Is(err, replication.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, replication.ErrWrongType), errors.Is(err, replication.ErrTooManySiblings):
		code = codes.FailedPrecondition
	case errors.As(err, &qe), errors.As(err, &nre), errors.Is(err, replication.ErrNotJoined), errors.Is(err, replication.ErrClockFenced),
		errors.Is(err, replication.ErrNoReplicaAlive), errors.Is(err, conflict.ErrLeaseExhausted), errors.Is(err, storage.ErrFatal):
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

// forwardedHeader marks a client request forwarded by a node that is not a
// replica of its key; the receiver coordinates it or fails, never forwards
// again.
const forwardedHeader = security.ForwardedByHeader

// forwarded reports whether the request was forwarded by another node.
func forwarded(ctx context.Context) bool { return forwardedBy(ctx) != "" }

// forwardedBy returns the node that forwarded the request, "" if none.
func forwardedBy(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(forwardedHeader); len(v) > 0 {
		return v[0]
	}
	return ""
}

// otherReplicas returns replicas without this node.
func (s *kvServer) otherReplicas(replicas []string) []string {
	var out []string
	for _, id := range replicas {
		if id != s.n.cfg.NodeID {
			out = append(out, id)
		}
	}
	return out
}

// forwardTo returns clients of the replicas among replicas not known dead,
// in order, and the context that marks the request forwarded. A request
// that was already forwarded is not forwarded again: the two nodes
// disagree on the ring.
func (s *kvServer) forwardTo(ctx context.Context, replicas []string) ([]pb.KVClient, context.Context, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(forwardedHeader)) > 0 {
		return nil, ctx, fmt.Errorf("%w: %s is not a replica of the key in its view of the ring (replicas: %v); retry",
			replication.ErrNoReplicaAlive, s.n.cfg.NodeID, replicas)
	}
	var out []pb.KVClient
	for _, id := range replicas {
		m, ok := s.n.member(id)
		if !ok || m.Liveness == cluster.LivenessDead || m.DialAddr() == "" {
			continue
		}
		conn, err := s.n.conns.Conn(id)
		if err != nil {
			continue
		}
		out = append(out, pb.NewKVClient(conn))
	}
	if len(out) == 0 {
		return nil, ctx, fmt.Errorf("%w: no replica of the key is alive (replicas: %v)", replication.ErrNoReplicaAlive, replicas)
	}
	return out, security.ForwardContext(ctx, s.n.cfg.NodeID), nil
}

// forwardFirst sends a request to the first of clients that takes it: a
// replica that could not be reached, or answered Unavailable with no
// receipt (it applied nothing: a replica that coordinates answers with
// one), is passed over for the next. A replica that died a moment ago is
// not yet known dead, and its requests would otherwise fail until it is.
func forwardFirst[Resp any](ctx context.Context, clients []pb.KVClient, forward func(pb.KVClient, context.Context) (Resp, error)) (Resp, error) {
	var (
		resp Resp
		err  error
	)
	for _, c := range clients {
		resp, err = forward(c, ctx)
		if err == nil || ctx.Err() != nil {
			return resp, err
		}
		if st := status.Convert(err); st.Code() != codes.Unavailable || len(st.Details()) > 0 {
			return resp, err
		}
	}
	return resp, err
}

// serveKey serves a request for key: the coordinator takes it here at the
// requested level when this node replicates the key, and otherwise refuses
// it with a *NotReplicaError naming the replicas, to one of which it is
// forwarded. The coordinator alone decides, so a ring that moves in
// between cannot make the two disagree.
func serveKey[Resp any](ctx context.Context, s *kvServer, c pb.Consistency,
	forward func(pb.KVClient, context.Context) (Resp, error),
	local func(replication.Level) (Resp, replication.Receipt, error)) (Resp, error) {
	var zero Resp
	level, err := levelFromProto(c)
	if err != nil {
		return zero, err
	}
	resp, rec, err := local(level)
	var (
		nre *replication.NotReplicaError
		cfe *replication.ClockFencedError
	)
	switch {
	case errors.As(err, &nre):
		clients, fctx, ferr := s.forwardTo(ctx, nre.Replicas)
		if ferr != nil {
			record(ctx, ferr)
			return zero, toStatus(ferr, receiptToProto(rec))
		}
		if r := recordOf(ctx); r != nil {
			r.forwarded = true // the replica it goes to counts it
		}
		return forwardFirst(fctx, clients, forward)
	case errors.As(err, &cfe):
		// Fenced before it stamped anything: the write goes to another
		// replica of the key, whose clock may stamp it (DESIGN.md, Clocks).
		if forwarded(ctx) {
			return zero, toStatus(fmt.Errorf("%w (the write was forwarded here by %s; retry)", err, forwardedBy(ctx)), receiptToProto(rec))
		}
		clients, fctx, ferr := s.forwardTo(ctx, s.otherReplicas(cfe.Replicas))
		if ferr != nil {
			return zero, toStatus(fmt.Errorf("%w; %w", err, ferr), receiptToProto(rec))
		}
		return forwardFirst(fctx, clients, forward)
	}
	record(ctx, err)
	if err != nil {
		return zero, toStatus(err, receiptToProto(rec))
	}
	return resp, nil
}

func (s *kvServer) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	return serveKey(ctx, s, req.Consistency,
		func(c pb.KVClient, fctx context.Context) (*pb.GetResponse, error) { return c.Get(fctx, req) },
		func(l replication.Level) (*pb.GetResponse, replication.Receipt, error) {
			res, err := s.n.coord.Get(ctx, req.Key, l)
			return &pb.GetResponse{Found: res.Found, Values: res.Values, Context: res.Token, Receipt: receiptToProto(res.Receipt)}, res.Receipt, err
		})
}

func (s *kvServer) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	return serveKey(ctx, s, req.Consistency,
		func(c pb.KVClient, fctx context.Context) (*pb.PutResponse, error) { return c.Put(fctx, req) },
		func(l replication.Level) (*pb.PutResponse, replication.Receipt, error) {
			r, err := s.n.coord.Put(ctx, req.Key, req.Value, req.Context, l)
			return &pb.PutResponse{Receipt: receiptToProto(r)}, r, err
		})
}

func (s *kvServer) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	return serveKey(ctx, s, req.Consistency,
		func(c pb.KVClient, fctx context.Context) (*pb.DeleteResponse, error) { return c.Delete(fctx, req) },
		func(l replication.Level) (*pb.DeleteResponse, replication.Receipt, error) {
			r, err := s.n.coord.Delete(ctx, req.Key, l)
			return &pb.DeleteResponse{Receipt: receiptToProto(r)}, r, err
		})
}

func (s *kvServer) SetAdd(ctx context.Context, req *pb.SetAddRequest) (*pb.SetAddResponse, error) {
	return serveKey(ctx, s, req.Consistency,
		func(c pb.KVClient, fctx context.Context) (*pb.SetAddResponse, error) { return c.SetAdd(fctx, req) },
		func(l replication.Level) (*pb.SetAddResponse, replication.Receipt, error) {
			r, err := s.n.coord.SetAdd(ctx, req.Key, req.Members, l)
			return &pb.SetAddResponse{Receipt: receiptToProto(r)}, r, err
		})
}

func (s *kvServer) SetRemove(ctx context.Context, req *pb.SetRemoveRequest) (*pb.SetRemoveResponse, error) {
	return serveKey(ctx, s, req.Consistency,
		func(c pb.KVClient, fctx context.Context) (*pb.SetRemoveResponse, error) {
			return c.SetRemove(fctx, req)
		},
		func(l replication.Level) (*pb.SetRemoveResponse, replication.Receipt, error) {
			r, err := s.n.coord.SetRemove(ctx, req.Key, req.Members, l)
			return &pb.SetRemoveResponse{Receipt: receiptToProto(r)}, r, err
		})
}

func (s *kvServer) SetMembers(ctx context.Context, req *pb.SetMembersRequest) (*pb.SetMembersResponse, error) {
	return serveKey(ctx, s, req.Consistency,
		func(c pb.KVClient, fctx context.Context) (*pb.SetMembersResponse, error) {
			return c.SetMembers(fctx, req)
		},
		func(l replication.Level) (*pb.SetMembersResponse, replication.Receipt, error) {
			res, err := s.n.coord.SetMembers(ctx, req.Key, l)
			return &pb.SetMembersResponse{Found: res.Found, Members: res.Members, Receipt: receiptToProto(res.Receipt)}, res.Receipt, err
		})
}

var livenessToProto = map[string]pb.Liveness{
	cluster.LivenessAlive:   pb.Liveness_LIVENESS_ALIVE,
	cluster.LivenessSuspect: pb.Liveness_LIVENESS_SUSPECT,
	cluster.LivenessDead:    pb.Liveness_LIVENESS_DEAD,
}

var ringStateToProto = map[ring.State]pb.RingState{
	ring.Joining: pb.RingState_RING_STATE_JOINING,
	ring.Normal:  pb.RingState_RING_STATE_NORMAL,
	ring.Leaving: pb.RingState_RING_STATE_LEAVING,
	ring.Left:    pb.RingState_RING_STATE_LEFT,
	ring.Removed: pb.RingState_RING_STATE_REMOVED,
}

// Members lists every member of the table with its liveness, ring state
// and share of the ring. A node not joined lists itself alone.
func (s *kvServer) Members(ctx context.Context, _ *pb.MembersRequest) (*pb.MembersResponse, error) {
	r := ringView{s.n}.Load()
	out := &pb.MembersResponse{}
	for _, m := range s.n.memberList() {
		pm := &pb.Member{Id: m.ID, GrpcAddr: m.GRPCAddr, GossipAddr: m.GossipAddr, PeerAddr: m.PeerAddr, RespAddr: m.RESPAddr,
			State: livenessToProto[m.Liveness], RingState: ringStateToProto[m.State], Replaces: m.TokensOf}
		if r != nil {
			pm.Ownership = r.Ownership(m.ID)
		}
		out.Members = append(out.Members, pm)
	}
	if len(out.Members) == 0 {
		out.Members = []*pb.Member{{Id: s.n.cfg.NodeID, GrpcAddr: s.n.grpcAddr, GossipAddr: advertisedGossipAddr(s.n.cfg), PeerAddr: s.n.peerAddr,
			RespAddr: s.n.respAdvertised, State: pb.Liveness_LIVENESS_ALIVE, RingState: pb.RingState_RING_STATE_JOINING}}
	}
	return out, nil
}

// Ring names the partition of a key and its replicas in preference order.
func (s *kvServer) Ring(ctx context.Context, req *pb.RingRequest) (*pb.RingResponse, error) {
	if err := s.n.limits.CheckKey(req.Key); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	_, replicas := s.n.coord.IsReplica(req.Key)
	return &pb.RingResponse{Partition: uint32(keyspace.PartitionOf(req.Key)), Replicas: replicas}, nil
}

// RingTable returns every partition's current replicas, in preference
// order, and the gRPC addresses of the members not declared dead, for
// token-aware clients. It fails with Unavailable (no receipt, so the client
// asks another node) until the node has joined.
func (s *kvServer) RingTable(ctx context.Context, _ *pb.RingTableRequest) (*pb.RingTableResponse, error) {
	r := ringView{s.n}.Load()
	if r == nil {
		return nil, status.Error(codes.Unavailable, "not joined")
	}
	out := &pb.RingTableResponse{
		Partitions:         uint32(r.Q()),
		PartitionsReplicas: make([]*pb.PartitionReplicas, r.Q()),
	}
	for p := range out.PartitionsReplicas {
		out.PartitionsReplicas[p] = &pb.PartitionReplicas{Replicas: r.Replicas(p)}
	}
	for _, m := range s.n.memberList() {
		if m.Liveness != cluster.LivenessDead && m.GRPCAddr != "" {
			out.Nodes = append(out.Nodes, &pb.NodeAddress{Id: m.ID, GrpcAddr: m.GRPCAddr})
		}
	}
	return out, nil
}

func (s *kvServer) Status(ctx context.Context, req *pb.StatusRequest) (*pb.StatusResponse, error) {
	st := s.n.store.Stats()
	d := s.n.store.Digest()
	space, err := s.n.store.Space()
	if err != nil {
		return nil, toStatus(err, nil)
	}
	alive := 1
	if m := s.n.members.Load(); m != nil && m.Joined() {
		alive = m.AliveCount()
	}
	var roots []*pb.PartitionRoot
	if req.GetPartitionRoots() {
		var err error
		if roots, err = s.partitionRoots(); err != nil {
			return nil, toStatus(err, nil)
		}
	}
	mv := s.n.moves.snapshot(time.Now())
	return &pb.StatusResponse{
		PartitionRoots:  roots,
		NodeId:          s.n.cfg.NodeID,
		Joined:          s.n.joined(),
		MembersAlive:    uint32(alive),
		Keys:            st.Keys,
		Tombstones:      st.Tombstones,
		HintsPending:    st.HintsPending,
		StorageBytes:    uint64(st.StorageBytes),
		LiveBytes:       uint64(space.LiveBytes),
		LastAntiEntropy: s.lastAntiEntropy(),
		Digest:          d[:],

		PartitionsMoving: uint32(mv.Total),
		PartitionsMoved:  uint32(mv.Done),
		MovingOut:        mv.Sending,
		BytesMoved:       uint64(mv.Bytes),
		MoveEtaSeconds:   uint32(mv.ETA.Round(time.Second) / time.Second),
	}, nil
}

// partitionRoots returns the Merkle root of every partition this node is a
// current replica of, sorted by partition; none before it joined.
func (s *kvServer) partitionRoots() ([]*pb.PartitionRoot, error) {
	r := ringView{s.n}.Load()
	if r == nil {
		return nil, nil
	}
	var parts []keyspace.Partition
	for _, p := range r.PartitionsOf(s.n.cfg.NodeID) {
		parts = append(parts, keyspace.Partition(p))
	}
	slices.Sort(parts)
	roots, err := s.n.store.MerkleRoots(parts)
	if err != nil {
		return nil, err
	}
	out := make([]*pb.PartitionRoot, len(parts))
	for i, p := range parts {
		out[i] = &pb.PartitionRoot{Partition: uint32(p), Root: roots[i][:]}
	}
	return out, nil
}

func (s *kvServer) lastAntiEntropy() []*pb.AntiEntropyRound {
	out := []*pb.AntiEntropyRound{}
	for _, r := range s.n.ae.Last() {
		out = append(out, &pb.AntiEntropyRound{Peer: r.Peer, Time: timestamppb.New(r.Time),
			PartitionsCompared: uint32(r.PartitionsCompared), KeysExchanged: uint64(r.KeysExchanged)})
	}
	return out
}

// Repair starts an anti-entropy round with every peer now; with wait it
// returns once the round is done, naming the peers it could not reach.
func (s *kvServer) Repair(ctx context.Context, req *pb.RepairRequest) (*pb.RepairResponse, error) {
	if s.n.cfg.TestNoAntiEntropy {
		return nil, status.Error(codes.FailedPrecondition, "anti-entropy is disabled on this node (--test-no-anti-entropy)")
	}
	peers, failed, err := s.n.ae.RepairNow(ctx, req.Wait)
	if err != nil {
		return nil, toStatus(err, nil)
	}
	resp := &pb.RepairResponse{}
	failedIDs := map[string]bool{}
	for _, f := range failed {
		failedIDs[f.ID] = true
		resp.Failed = append(resp.Failed, &pb.ReplicaFailure{Id: f.ID, Reason: f.Reason})
	}
	for _, p := range peers {
		if !failedIDs[p] {
			resp.Peers = append(resp.Peers, p) // the peers the round finished with
		}
	}
	return resp, nil
}

// Leave makes the answering node leaving: it hands every partition over
// to its new replicas, becomes left and stops. It answers once the node is
// leaving.
func (s *kvServer) Leave(ctx context.Context, req *pb.LeaveRequest) (*pb.LeaveResponse, error) {
	if err := s.n.startLeave(req.Force); err != nil {
		return nil, ringChangeStatus(err)
	}
	return &pb.LeaveResponse{}, nil
}

// Remove marks a dead member removed; the remaining replicas of its
// partitions fill the members that take them over.
func (s *kvServer) Remove(ctx context.Context, req *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	if req.NodeId == "" {
		return nil, status.Error(codes.InvalidArgument, "remove: no node id")
	}
	if err := s.n.removeMember(req.NodeId, req.Force); err != nil {
		return nil, ringChangeStatus(err)
	}
	return &pb.RemoveResponse{}, nil
}

// ringChangeStatus translates the errors of leave and remove.
func ringChangeStatus(err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, cluster.ErrUnknownMember):
		code = codes.NotFound
	case errors.Is(err, cluster.ErrMemberAlive), errors.Is(err, cluster.ErrRemoveSelf), errors.Is(err, cluster.ErrIllegalTransition),
		errors.Is(err, errBelowReplicationFactor):
		code = codes.FailedPrecondition
	case errors.Is(err, cluster.ErrNotJoined), errors.Is(err, cluster.ErrClosed), errors.Is(err, cluster.ErrRemoved):
		code = codes.Unavailable
	}
	return status.Error(code, err.Error())
}
