package quorumkvv1_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// time0 is a fixed instant for test messages.
func time0() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC) }

// fullReplicaBatch returns a ReplicaBatch in which every field of every
// message it can hold is set, both oneof cases included.
func fullReplicaBatch() *quorumkvv1.ReplicaBatch {
	return &quorumkvv1.ReplicaBatch{Ops: []*quorumkvv1.ReplicaOp{
		{Id: 1, Op: &quorumkvv1.ReplicaOp_Apply{Apply: &quorumkvv1.ApplyOp{
			Key: []byte("k1"), Object: []byte{0x00, 0xff, 0x10}, Hint: true,
		}}},
		{Id: 1<<64 - 1, Op: &quorumkvv1.ReplicaOp_Read{Read: &quorumkvv1.ReadOp{Key: []byte("k2")}}},
	}}
}

func TestReplicaBatch_roundTrip(t *testing.T) {
	in := fullReplicaBatch()
	assertPopulated(t, in.ProtoReflect())

	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	out := &quorumkvv1.ReplicaBatch{}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !proto.Equal(in, out) {
		t.Fatalf("round trip changed the batch:\n got %v\nwant %v", out, in)
	}
	if got := out.GetOps()[0].GetApply(); !got.GetHint() || string(got.GetKey()) != "k1" {
		t.Errorf("apply op = %v, want hint for k1", got)
	}
	if got := out.GetOps()[1]; got.GetId() != 1<<64-1 || string(got.GetRead().GetKey()) != "k2" {
		t.Errorf("read op = %v, want id 2^64-1 reading k2", got)
	}
}

// assertPopulated fails unless every field of m, and of every message under
// it, is set somewhere; a oneof counts as populated when each of its cases is
// set in at least one element of the enclosing list. It keeps the round-trip
// test honest when fields are added to the protos.
func assertPopulated(t *testing.T, m protoreflect.Message) {
	t.Helper()
	seen := map[protoreflect.FullName]bool{}
	var walk func(protoreflect.Message)
	walk = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			seen[fd.FullName()] = true
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := range v.List().Len() {
					walk(v.List().Get(i).Message())
				}
			case fd.Message() != nil:
				walk(v.Message())
			}
			return true
		})
	}
	walk(m)
	var check func(protoreflect.MessageDescriptor, map[protoreflect.FullName]bool)
	check = func(md protoreflect.MessageDescriptor, visited map[protoreflect.FullName]bool) {
		if visited[md.FullName()] {
			return
		}
		visited[md.FullName()] = true
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			if !seen[fd.FullName()] {
				t.Errorf("field %s is never set", fd.FullName())
			}
			if fd.Message() != nil {
				check(fd.Message(), visited)
			}
		}
	}
	check(m.Descriptor(), map[protoreflect.FullName]bool{})
}
