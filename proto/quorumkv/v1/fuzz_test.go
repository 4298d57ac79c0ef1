package quorumkvv1_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// wireMessages returns, for every top-level message of the client and
// node-to-node APIs, a fully populated value. The fuzz test uses them as the
// seed corpus and, through their types, as the decoders to exercise.
func wireMessages() []proto.Message {
	receipt := &quorumkvv1.Receipt{
		Coordinator:  "n1",
		Level:        quorumkvv1.Consistency_CONSISTENCY_QUORUM,
		Required:     2,
		Acknowledged: []string{"n1"},
		Failed:       []*quorumkvv1.ReplicaFailure{{Id: "n2", Reason: "unreachable"}},
		Pending:      []string{"n3"},
		Applied:      quorumkvv1.Applied_APPLIED_PARTIAL,
		ReadRepair:   true,
		HintsWritten: 1,
	}
	settings := &quorumkvv1.ClusterSettings{
		ClusterId:         []byte("0123456789abcdef"),
		ReplicationFactor: 3,
		Partitions:        1024,
		Conflict:          quorumkvv1.ConflictPolicy_CONFLICT_POLICY_SIBLINGS,
	}
	table := &quorumkvv1.MemberTable{Members: []*quorumkvv1.MemberEntry{{
		Id: "n1", GrpcAddr: "127.0.0.1:7001", GossipAddr: "127.0.0.1:7101",
		Vnodes: 64, State: quorumkvv1.RingState_RING_STATE_NORMAL, Version: 7,
	}}}
	return []proto.Message{
		&quorumkvv1.RingTableRequest{},
		&quorumkvv1.RingTableResponse{Partitions: 2,
			PartitionsReplicas: []*quorumkvv1.PartitionReplicas{{Replicas: []string{"n1", "n2"}}, {Replicas: []string{"n2", "n3"}}},
			Nodes:              []*quorumkvv1.NodeAddress{{Id: "n1", GrpcAddr: "127.0.0.1:7001"}}},
		// Node to node.
		fullReplicaBatch(),
		&quorumkvv1.ReplicaReplyBatch{Replies: []*quorumkvv1.ReplicaReply{
			{Id: 1, Result: &quorumkvv1.ReplicaReply_Apply{Apply: &quorumkvv1.ApplyResult{Object: []byte("obj")}}},
			{Id: 2, Result: &quorumkvv1.ReplicaReply_Read{Read: &quorumkvv1.ReadResult{Found: true, Object: []byte("obj")}}},
			{Id: 3, Result: &quorumkvv1.ReplicaReply_Error{Error: &quorumkvv1.ReplicaError{Code: 9, Message: "key holds a set"}}},
		}},
		&quorumkvv1.MerkleRootsRequest{Partitions: []uint32{0, 5, 1023}},
		&quorumkvv1.MerkleRootsResponse{Roots: []*quorumkvv1.PartitionHash{{Partition: 5, Hash: []byte{1, 2}}}},
		&quorumkvv1.MerkleNodesRequest{Partition: 5, Level: 2, Indexes: []uint32{0, 3}},
		&quorumkvv1.MerkleNodesResponse{Hashes: [][]byte{{1}, {2}}},
		&quorumkvv1.LeafEntriesRequest{Partition: 5, Leaves: []uint32{7}},
		&quorumkvv1.LeafEntriesResponse{Entries: []*quorumkvv1.KeyHash{{Key: []byte("k"), ObjectHash: []byte{3}}}},
		&quorumkvv1.FetchObjectsRequest{Keys: [][]byte{[]byte("k")}},
		&quorumkvv1.FetchObjectsResponse{Objects: []*quorumkvv1.KeyObject{{Key: []byte("k"), Object: []byte("obj")}}},
		&quorumkvv1.StreamPartitionRequest{Partition: 5, After: []byte("sk"), MaxBatchBytes: 1 << 20},
		&quorumkvv1.KeyObjectBatch{Objects: []*quorumkvv1.KeyObject{{Key: []byte("k"), Object: []byte("obj")}}, Done: true},
		&quorumkvv1.JoinRequest{NodeId: "n2", ClusterName: "dev", Proposed: settings, UnixTime: 1700000000, KeyProof: []byte("mac")},
		&quorumkvv1.JoinResponse{Settings: settings, Secret: []byte("secret"), Members: table},
		&quorumkvv1.GossipState{ClusterId: settings.GetClusterId(), Table: table},
		&quorumkvv1.KeyringApplyRequest{Op: quorumkvv1.KeyringOp_KEYRING_OP_USE, Key: []byte("key"), NodeId: "n1",
			ClusterName: "dev", UnixTime: 1700000000, KeyProof: []byte("mac")},
		&quorumkvv1.KeyringApplyResponse{Keys: [][]byte{[]byte("k1"), []byte("k2")}},
		&quorumkvv1.HandOffAckRequest{NodeId: "n1", Partitions: []uint32{3, 7}},
		&quorumkvv1.HandOffAckResponse{Targeted: []uint32{7}},
		// Client API.
		&quorumkvv1.GetRequest{Key: []byte("k"), Consistency: quorumkvv1.Consistency_CONSISTENCY_ONE},
		&quorumkvv1.GetResponse{Found: true, Values: [][]byte{[]byte("a"), []byte("b")}, Context: []byte("ctx"), Receipt: receipt},
		&quorumkvv1.PutRequest{Key: []byte("k"), Value: []byte("v"), Context: []byte("ctx"), Consistency: quorumkvv1.Consistency_CONSISTENCY_ALL},
		&quorumkvv1.PutResponse{Receipt: receipt},
		&quorumkvv1.DeleteRequest{Key: []byte("k"), Consistency: quorumkvv1.Consistency_CONSISTENCY_QUORUM},
		&quorumkvv1.DeleteResponse{Receipt: receipt},
		&quorumkvv1.SetAddRequest{Key: []byte("s"), Members: [][]byte{[]byte("m")}, Consistency: quorumkvv1.Consistency_CONSISTENCY_ONE},
		&quorumkvv1.SetAddResponse{Receipt: receipt},
		&quorumkvv1.BackupRequest{},
		&quorumkvv1.BackupResponse{Part: &quorumkvv1.BackupResponse_Chunk{Chunk: []byte("bbolt bytes")}},
		&quorumkvv1.BackupResponse{Part: &quorumkvv1.BackupResponse_Trailer{Trailer: &quorumkvv1.BackupTrailer{Length: 11, Sha256: make([]byte, 32), NodeId: "n1"}}},
		&quorumkvv1.SetRemoveRequest{Key: []byte("s"), Members: [][]byte{[]byte("m")}, Consistency: quorumkvv1.Consistency_CONSISTENCY_ONE},
		&quorumkvv1.SetRemoveResponse{Receipt: receipt},
		&quorumkvv1.SetMembersRequest{Key: []byte("s"), Consistency: quorumkvv1.Consistency_CONSISTENCY_ONE},
		&quorumkvv1.SetMembersResponse{Found: true, Members: [][]byte{[]byte("m")}, Receipt: receipt},
		&quorumkvv1.MembersRequest{},
		&quorumkvv1.MembersResponse{Members: []*quorumkvv1.Member{{
			Id: "n1", GrpcAddr: "127.0.0.1:7001", GossipAddr: "127.0.0.1:7101",
			State: quorumkvv1.Liveness_LIVENESS_SUSPECT, RingState: quorumkvv1.RingState_RING_STATE_LEAVING, Ownership: 0.25,
		}}},
		&quorumkvv1.RingRequest{Key: []byte("k")},
		&quorumkvv1.RingResponse{Partition: 5, Replicas: []string{"n1", "n2", "n3"}},
		&quorumkvv1.StatusRequest{},
		&quorumkvv1.StatusResponse{
			NodeId: "n1", Joined: true, MembersAlive: 3, Keys: 10, Tombstones: 2, HintsPending: 1, StorageBytes: 4096,
			LastAntiEntropy: []*quorumkvv1.AntiEntropyRound{{
				Peer: "n2", Time: timestamppb.New(time0()), PartitionsCompared: 700, KeysExchanged: 3,
			}},
			Digest: make([]byte, 16),
		},
		&quorumkvv1.RepairRequest{Wait: true},
		&quorumkvv1.RepairResponse{Peers: []string{"n2"}, Failed: []*quorumkvv1.ReplicaFailure{{Id: "n3", Reason: "unreachable"}}},
		&quorumkvv1.LeaveRequest{Force: true},
		&quorumkvv1.LeaveResponse{},
		&quorumkvv1.RemoveRequest{NodeId: "n3", Force: true},
		&quorumkvv1.RemoveResponse{},
		&quorumkvv1.KeyringListRequest{},
		&quorumkvv1.KeyringListResponse{Nodes: []*quorumkvv1.NodeKeyring{{NodeId: "n1", Keys: [][]byte{[]byte("k1")}}, {NodeId: "n2", Error: "down"}}},
		&quorumkvv1.KeyringChangeRequest{Op: quorumkvv1.KeyringOp_KEYRING_OP_INSTALL, Key: []byte("key")},
		&quorumkvv1.KeyringChangeResponse{Nodes: []*quorumkvv1.NodeKeyring{{NodeId: "n1", Keys: [][]byte{[]byte("k1")}}}},
	}
}

// files are the generated files whose messages are fuzzed.
var files = []protoreflect.FileDescriptor{
	quorumkvv1.File_quorumkv_v1_common_proto,
	quorumkvv1.File_quorumkv_v1_kv_proto,
	quorumkvv1.File_quorumkv_v1_replica_proto,
}

// allMessageTypes returns every message type declared in files.
func allMessageTypes(tb testing.TB) []protoreflect.MessageType {
	tb.Helper()
	var types []protoreflect.MessageType
	for _, fd := range files {
		for i := range fd.Messages().Len() {
			name := fd.Messages().Get(i).FullName()
			mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
			if err != nil {
				tb.Fatalf("find %s: %v", name, err)
			}
			types = append(types, mt)
		}
	}
	return types
}

// TestWireMessages_coverEveryTopLevelMessage checks that the seed corpus
// holds every message that travels on its own: each RPC's request and
// response (stream messages included) and the gossip payload.
func TestWireMessages_coverEveryTopLevelMessage(t *testing.T) {
	seeded := map[protoreflect.FullName]bool{}
	for _, m := range wireMessages() {
		seeded[m.ProtoReflect().Descriptor().FullName()] = true
	}
	want := []protoreflect.FullName{"quorumkv.v1.GossipState"}
	for _, fd := range files {
		for i := range fd.Services().Len() {
			methods := fd.Services().Get(i).Methods()
			for j := range methods.Len() {
				want = append(want, methods.Get(j).Input().FullName(), methods.Get(j).Output().FullName())
			}
		}
	}
	for _, name := range want {
		if !seeded[name] {
			t.Errorf("wireMessages has no %s", name)
		}
	}
}

// FuzzUnmarshal checks that no message's decoder panics on arbitrary bytes,
// and that whatever decodes survives a marshal/unmarshal round trip
// unchanged. Every message type of the API is tried on every input; the
// seeds are valid encodings of every top-level message.
func FuzzUnmarshal(f *testing.F) {
	for _, m := range wireMessages() {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatalf("marshal %T: %v", m, err)
		}
		f.Add(b)
	}
	types := allMessageTypes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mt := range types {
			m := mt.New().Interface()
			if err := proto.Unmarshal(data, m); err != nil {
				continue
			}
			b, err := proto.Marshal(m)
			if err != nil {
				t.Fatalf("%T: re-marshal of a decoded message: %v", m, err)
			}
			again := m.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, again); err != nil {
				t.Fatalf("%T: unmarshal of a re-marshaled message: %v", m, err)
			}
			if !proto.Equal(m, again) {
				t.Fatalf("%T: round trip changed the message:\n got %v\nwant %v", m, again, m)
			}
		}
	})
}
