// Package clienttest provides an in-process fake of quorumkv's KV service
// for tests of the client and of kvctl. It is never imported by non-test
// code.
package clienttest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/keyspace"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// Server is a fake KV server on a loopback listener. It stores registers and
// sets in memory (last write wins for blind puts, unless Siblings), issues
// context tokens, and answers every key operation with a receipt from
// NodeID. Tests inject errors with Fail, set the admin answers (Members,
// Status, RingTable, ...) directly, and read what each server received with
// Requests.
type Server struct {
	quorumkvv1.UnimplementedKVServer

	// NodeID names the coordinator in receipts.
	NodeID string
	// Siblings makes blind puts keep the existing values (allow_mult).
	Siblings bool

	mu        sync.Mutex
	registers map[string][][]byte
	sets      map[string][][]byte
	versions  map[string]int
	fail      map[string]error // by method name; "" for every method
	requests  []proto.Message

	members []*quorumkvv1.Member
	status  *quorumkvv1.StatusResponse
	repair  *quorumkvv1.RepairResponse
	ring    *quorumkvv1.RingResponse
	table   *quorumkvv1.RingTableResponse // nil: RingTable answers "not joined"

	backupChunks  [][]byte
	backupTrailer *quorumkvv1.BackupTrailer // nil: the stream ends without one
	backupStall   bool                      // after the chunks, wait for the caller to give up

	addr string
	stop func()
}

// Start serves a new fake on 127.0.0.1 until the test ends.
func Start(t testing.TB, nodeID string) *Server {
	t.Helper()
	s := &Server{
		NodeID:    nodeID,
		registers: map[string][][]byte{},
		sets:      map[string][][]byte{},
		versions:  map[string]int{},
		fail:      map[string]error{},
		status:    &quorumkvv1.StatusResponse{NodeId: nodeID, Joined: true},
		repair:    &quorumkvv1.RepairResponse{},
		ring:      &quorumkvv1.RingResponse{},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("clienttest: listen: %v", err)
	}
	g := grpc.NewServer()
	quorumkvv1.RegisterKVServer(g, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis)
	}()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			g.Stop()
			<-done
		})
	}
	t.Cleanup(s.stop)
	s.addr = lis.Addr().String()
	return s
}

// Stop stops serving and closes the listener, as a crashed node: connecting
// to Addr is refused from then on. It is idempotent; the test's end calls it
// too.
func (s *Server) Stop() { s.stop() }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Fail makes method ("Get", "Put", ...; "" for all) fail with err from now
// on; a nil err clears it.
func (s *Server) Fail(method string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fail, method)
		return
	}
	s.fail[method] = err
}

// SetMemberList sets the answer of Members.
func (s *Server) SetMemberList(ms ...*quorumkvv1.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members = ms
}

// SetStatus sets the answer of Status.
func (s *Server) SetStatus(st *quorumkvv1.StatusResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = st
}

// SetRepair sets the answer of Repair.
func (s *Server) SetRepair(r *quorumkvv1.RepairResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repair = r
}

// SetBackup sets the answer of Backup: the chunks, then trailer (nil: the
// stream ends without a trailer), or with stall, nothing more until the
// caller gives up.
func (s *Server) SetBackup(chunks [][]byte, trailer *quorumkvv1.BackupTrailer, stall bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.backupChunks, s.backupTrailer, s.backupStall = chunks, trailer, stall
}

// Backup implements quorumkvv1.KVServer: it streams what SetBackup set.
func (s *Server) Backup(req *quorumkvv1.BackupRequest, stream grpc.ServerStreamingServer[quorumkvv1.BackupResponse]) error {
	s.mu.Lock()
	err := s.begin("Backup", req)
	chunks, trailer, stall := s.backupChunks, s.backupTrailer, s.backupStall
	s.mu.Unlock()
	if err != nil {
		return err
	}
	for _, c := range chunks {
		if err := stream.Send(&quorumkvv1.BackupResponse{Part: &quorumkvv1.BackupResponse_Chunk{Chunk: c}}); err != nil {
			return err
		}
	}
	if stall {
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	if trailer == nil {
		return nil
	}
	return stream.Send(&quorumkvv1.BackupResponse{Part: &quorumkvv1.BackupResponse_Trailer{Trailer: trailer}})
}

// SetRing sets the answer of Ring.
func (s *Server) SetRing(r *quorumkvv1.RingResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring = r
}

// SetRingTable sets the answer of RingTable; nil (the default) makes it
// fail with UNAVAILABLE "not joined" and no receipt, as a node that has not
// joined.
func (s *Server) SetRingTable(t *quorumkvv1.RingTableResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.table = t
}

// RingTable builds a ring table of servers: partition p is replicated by the
// ids replicas(p) returns, and every server is listed with its address.
func RingTable(servers []*Server, replicas func(partition int) []string) *quorumkvv1.RingTableResponse {
	t := &quorumkvv1.RingTableResponse{Partitions: keyspace.Q}
	for p := range keyspace.Q {
		t.PartitionsReplicas = append(t.PartitionsReplicas, &quorumkvv1.PartitionReplicas{Replicas: replicas(p)})
	}
	for _, s := range servers {
		t.Nodes = append(t.Nodes, &quorumkvv1.NodeAddress{Id: s.NodeID, GrpcAddr: s.Addr()})
	}
	return t
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []proto.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// LastRequest returns the last request received, or nil.
func (s *Server) LastRequest() proto.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return nil
	}
	return s.requests[len(s.requests)-1]
}

// StatusError builds a gRPC status error with message msg and, when r is not
// nil, r as a detail, as the server reports a failed key operation.
func StatusError(code codes.Code, msg string, r *quorumkvv1.Receipt) error {
	st := status.New(code, msg)
	if r == nil {
		return st.Err()
	}
	st, err := st.WithDetails(r)
	if err != nil {
		panic(fmt.Sprintf("clienttest: status details: %v", err))
	}
	return st.Err()
}

// Receipt returns the receipt the fake sends for a request at level c.
func (s *Server) Receipt(c quorumkvv1.Consistency, write bool) *quorumkvv1.Receipt {
	if c == quorumkvv1.Consistency_CONSISTENCY_UNSPECIFIED {
		c = quorumkvv1.Consistency_CONSISTENCY_QUORUM
	}
	r := &quorumkvv1.Receipt{Coordinator: s.NodeID, Level: c, Required: uint32(c), Acknowledged: []string{s.NodeID}}
	for i := uint32(1); i < uint32(c); i++ {
		r.Acknowledged = append(r.Acknowledged, s.NodeID+"-peer"+strconv.Itoa(int(i)))
	}
	if write {
		r.Applied = quorumkvv1.Applied_APPLIED_PARTIAL
		if c == quorumkvv1.Consistency_CONSISTENCY_ALL {
			r.Applied = quorumkvv1.Applied_APPLIED_ALL
		}
	}
	return r
}

// begin records req and returns the injected error for method, if any.
func (s *Server) begin(method string, req proto.Message) error {
	s.requests = append(s.requests, proto.Clone(req))
	if err, ok := s.fail[method]; ok {
		return err
	}
	return s.fail[""]
}

// token is the fake's context token for key at its current version: not
// valid UTF-8, like a real (binary) token.
func (s *Server) token(key []byte) []byte {
	return append([]byte{0xfe, 0xff, byte(s.versions[string(key)])}, key...)
}

// Get implements quorumkvv1.KVServer.
func (s *Server) Get(_ context.Context, req *quorumkvv1.GetRequest) (*quorumkvv1.GetResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Get", req); err != nil {
		return nil, err
	}
	r := s.Receipt(req.GetConsistency(), false)
	if _, ok := s.sets[string(req.GetKey())]; ok {
		return nil, StatusError(codes.FailedPrecondition, "key holds a set", r)
	}
	vs := s.registers[string(req.GetKey())]
	return &quorumkvv1.GetResponse{Found: len(vs) > 0, Values: vs, Context: s.token(req.GetKey()), Receipt: r}, nil
}

// Put implements quorumkvv1.KVServer.
func (s *Server) Put(_ context.Context, req *quorumkvv1.PutRequest) (*quorumkvv1.PutResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Put", req); err != nil {
		return nil, err
	}
	k := string(req.GetKey())
	r := s.Receipt(req.GetConsistency(), true)
	if _, ok := s.sets[k]; ok {
		r.Applied = quorumkvv1.Applied_APPLIED_UNSPECIFIED
		return nil, StatusError(codes.FailedPrecondition, "key holds a set", r)
	}
	switch {
	case len(req.GetContext()) > 0:
		if !bytes.Equal(req.GetContext(), s.token(req.GetKey())) {
			return nil, StatusError(codes.InvalidArgument, "invalid context token", nil)
		}
		s.registers[k] = [][]byte{req.GetValue()}
	case s.Siblings:
		s.registers[k] = append(s.registers[k], req.GetValue())
	default:
		s.registers[k] = [][]byte{req.GetValue()}
	}
	s.versions[k]++
	return &quorumkvv1.PutResponse{Receipt: r}, nil
}

// Delete implements quorumkvv1.KVServer.
func (s *Server) Delete(_ context.Context, req *quorumkvv1.DeleteRequest) (*quorumkvv1.DeleteResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Delete", req); err != nil {
		return nil, err
	}
	delete(s.registers, string(req.GetKey()))
	s.versions[string(req.GetKey())]++
	return &quorumkvv1.DeleteResponse{Receipt: s.Receipt(req.GetConsistency(), true)}, nil
}

// SetAdd implements quorumkvv1.KVServer.
func (s *Server) SetAdd(_ context.Context, req *quorumkvv1.SetAddRequest) (*quorumkvv1.SetAddResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("SetAdd", req); err != nil {
		return nil, err
	}
	k := string(req.GetKey())
	r := s.Receipt(req.GetConsistency(), true)
	if _, ok := s.registers[k]; ok {
		r.Applied = quorumkvv1.Applied_APPLIED_UNSPECIFIED
		return nil, StatusError(codes.FailedPrecondition, "key holds a register", r)
	}
	set := s.sets[k]
	for _, m := range req.GetMembers() {
		if !slices.ContainsFunc(set, func(x []byte) bool { return bytes.Equal(x, m) }) {
			set = append(set, m)
		}
	}
	slices.SortFunc(set, bytes.Compare)
	s.sets[k] = set
	return &quorumkvv1.SetAddResponse{Receipt: r}, nil
}

// SetRemove implements quorumkvv1.KVServer.
func (s *Server) SetRemove(_ context.Context, req *quorumkvv1.SetRemoveRequest) (*quorumkvv1.SetRemoveResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("SetRemove", req); err != nil {
		return nil, err
	}
	k := string(req.GetKey())
	set := slices.DeleteFunc(s.sets[k], func(x []byte) bool {
		return slices.ContainsFunc(req.GetMembers(), func(m []byte) bool { return bytes.Equal(x, m) })
	})
	if len(set) == 0 {
		delete(s.sets, k)
	} else {
		s.sets[k] = set
	}
	return &quorumkvv1.SetRemoveResponse{Receipt: s.Receipt(req.GetConsistency(), true)}, nil
}

// SetMembers implements quorumkvv1.KVServer.
func (s *Server) SetMembers(_ context.Context, req *quorumkvv1.SetMembersRequest) (*quorumkvv1.SetMembersResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("SetMembers", req); err != nil {
		return nil, err
	}
	r := s.Receipt(req.GetConsistency(), false)
	if _, ok := s.registers[string(req.GetKey())]; ok {
		return nil, StatusError(codes.FailedPrecondition, "key holds a register", r)
	}
	set := s.sets[string(req.GetKey())]
	return &quorumkvv1.SetMembersResponse{Found: len(set) > 0, Members: set, Receipt: r}, nil
}

// Members implements quorumkvv1.KVServer.
func (s *Server) Members(_ context.Context, req *quorumkvv1.MembersRequest) (*quorumkvv1.MembersResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Members", req); err != nil {
		return nil, err
	}
	return &quorumkvv1.MembersResponse{Members: s.members}, nil
}

// Ring implements quorumkvv1.KVServer.
func (s *Server) Ring(_ context.Context, req *quorumkvv1.RingRequest) (*quorumkvv1.RingResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Ring", req); err != nil {
		return nil, err
	}
	return s.ring, nil
}

// RingTable implements quorumkvv1.KVServer.
func (s *Server) RingTable(_ context.Context, req *quorumkvv1.RingTableRequest) (*quorumkvv1.RingTableResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("RingTable", req); err != nil {
		return nil, err
	}
	if s.table == nil {
		return nil, status.Error(codes.Unavailable, "not joined")
	}
	return s.table, nil
}

// Status implements quorumkvv1.KVServer.
func (s *Server) Status(_ context.Context, req *quorumkvv1.StatusRequest) (*quorumkvv1.StatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Status", req); err != nil {
		return nil, err
	}
	return s.status, nil
}

// Repair implements quorumkvv1.KVServer.
func (s *Server) Repair(_ context.Context, req *quorumkvv1.RepairRequest) (*quorumkvv1.RepairResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Repair", req); err != nil {
		return nil, err
	}
	return s.repair, nil
}

// Leave implements quorumkvv1.KVServer.
func (s *Server) Leave(_ context.Context, req *quorumkvv1.LeaveRequest) (*quorumkvv1.LeaveResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Leave", req); err != nil {
		return nil, err
	}
	return &quorumkvv1.LeaveResponse{}, nil
}

// Remove implements quorumkvv1.KVServer.
func (s *Server) Remove(_ context.Context, req *quorumkvv1.RemoveRequest) (*quorumkvv1.RemoveResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin("Remove", req); err != nil {
		return nil, err
	}
	return &quorumkvv1.RemoveResponse{}, nil
}
