package main

import (
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
	if !strings.Contains(res.stdout, "partitions_moved   0 of 10\n") {
		t.Fatalf("status while moving:\n%s", res.stdout)
	}
	obj := decode(t, kvctl(t, srv.Addr(), "-o", "json", "status").stdout)
	if obj["partitions_moving"] != float64(10) || obj["partitions_moved"] != float64(0) {
		t.Fatalf("status -o json while moving: %v", obj)
	}
	srv.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n1", Joined: true})
	obj = decode(t, kvctl(t, srv.Addr(), "-o", "json", "status").stdout)
	if _, ok := obj["partitions_moved"]; ok {
		t.Fatalf("status -o json with nothing moving: %v", obj)
	}
}
