package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/client/clienttest"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

func TestKvctl_leaveWait(t *testing.T) {
	for name, tt := range map[string]struct {
		ring     quorumkvv1.RingState
		wantCode int
		stderr   string
	}{
		"left":            {quorumkvv1.RingState_RING_STATE_LEFT, 0, "n1 left after 0s\n"},
		"normal after it": {quorumkvv1.RingState_RING_STATE_NORMAL, 5, "error: leave: n1 is normal, not leaving\n"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := clienttest.Start(t, "n1")
			srv.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n1", Joined: true})
			srv.SetMemberList(&quorumkvv1.Member{Id: "n1", State: quorumkvv1.Liveness_LIVENESS_ALIVE, RingState: tt.ring})
			res := kvctl(t, srv.Addr(), "-o", "json", "leave", "--wait", "--force")
			if res.code != tt.wantCode || res.stderr != tt.stderr {
				t.Fatalf("leave --wait: exit %d, stderr %q; want %d, %q", res.code, res.stderr, tt.wantCode, tt.stderr)
			}
			if tt.wantCode == 0 {
				obj := decode(t, res.stdout)
				if obj["node_id"] != "n1" || obj["ring_state"] != "left" || obj["endpoint"] != srv.Addr() {
					t.Fatalf("leave --wait -o json: %v", obj)
				}
			}
			var leave *quorumkvv1.LeaveRequest
			for _, r := range srv.Requests() {
				if l, ok := r.(*quorumkvv1.LeaveRequest); ok {
					leave = l
				}
			}
			if leave == nil || !leave.Force {
				t.Fatalf("no forced LeaveRequest sent: %v", srv.Requests())
			}
		})
	}
}

func TestKvctl_statusShowsPartitionsMoving(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n1", Joined: true, PartitionsMoving: 10, PartitionsMoved: 0})
	res := kvctl(t, srv.Addr(), "status")
	if !strings.Contains(res.stdout, "moving             0 of 10 partitions filled, 0 B\n") {
		t.Fatalf("status while moving:\n%s", res.stdout)
	}
	obj := decode(t, kvctl(t, srv.Addr(), "-o", "json", "status").stdout)
	if obj["partitions_moving"] != float64(10) || obj["partitions_moved"] != float64(0) || obj["move"] != "receive" {
		t.Fatalf("status -o json while moving: %v", obj)
	}
	srv.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n1", Joined: true, PartitionsMoving: 10, PartitionsMoved: 4,
		MovingOut: true, BytesMoved: 3 << 20, MoveEtaSeconds: 30})
	res = kvctl(t, srv.Addr(), "status")
	if !strings.Contains(res.stdout, "moving             4 of 10 partitions handed over, 3.0 MiB, about 30s left\n") {
		t.Fatalf("status while handing over:\n%s", res.stdout)
	}
	obj = decode(t, kvctl(t, srv.Addr(), "-o", "json", "status").stdout)
	if obj["move"] != "send" || obj["bytes_moved"] != float64(3<<20) || obj["move_eta_seconds"] != float64(30) {
		t.Fatalf("status -o json while handing over: %v", obj)
	}
	srv.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n1", Joined: true})
	obj = decode(t, kvctl(t, srv.Addr(), "-o", "json", "status").stdout)
	if _, ok := obj["partitions_moved"]; ok {
		t.Fatalf("status -o json with nothing moving: %v", obj)
	}
}

// kvctl members asks a leaving member itself for its progress and shows
// it in a MOVES column (text) and a moves object (JSON); with nothing
// moving there is no such column.
func TestKvctl_membersShowsMoves(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	members := func(state quorumkvv1.RingState) {
		srv.SetMemberList(
			&quorumkvv1.Member{Id: "n1", GrpcAddr: "127.0.0.1:1", GossipAddr: "127.0.0.1:2", State: quorumkvv1.Liveness_LIVENESS_ALIVE, RingState: quorumkvv1.RingState_RING_STATE_NORMAL, Ownership: 0.5},
			&quorumkvv1.Member{Id: "n4", GrpcAddr: srv.Addr(), GossipAddr: "127.0.0.1:3", State: quorumkvv1.Liveness_LIVENESS_ALIVE, RingState: state, Ownership: 0.5})
	}
	members(quorumkvv1.RingState_RING_STATE_LEAVING)
	srv.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n4", Joined: true, PartitionsMoving: 8, PartitionsMoved: 2, MovingOut: true, BytesMoved: 2048, MoveEtaSeconds: 9})
	res := kvctl(t, srv.Addr(), "members")
	if !strings.Contains(res.stdout, "MOVES") || !strings.Contains(res.stdout, "2 of 8 partitions handed over, 2.0 KiB, about 9s left") {
		t.Fatalf("members while n4 leaves:\n%s", res.stdout)
	}
	var out struct {
		Members []struct {
			ID    string         `json:"id"`
			Moves map[string]any `json:"moves"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(kvctl(t, srv.Addr(), "-o", "json", "members").stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Members) != 2 || out.Members[0].Moves != nil || out.Members[1].Moves["move"] != "send" || out.Members[1].Moves["partitions_moved"] != float64(2) {
		t.Fatalf("members -o json while n4 leaves: %+v", out)
	}
	members(quorumkvv1.RingState_RING_STATE_NORMAL)
	if res := kvctl(t, srv.Addr(), "members"); strings.Contains(res.stdout, "MOVES") {
		t.Fatalf("members with nothing moving:\n%s", res.stdout)
	}
}
