package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/quorumkv/quorumkv/client/clienttest"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// status --cluster asks every live member at its own address; a dead
// member gets a row with its liveness and no figures. The replicas of
// each partition agree here, so in_sync is true; a replica that does not
// answer makes it false.
func TestKvctl_statusCluster(t *testing.T) {
	n1, n3 := clienttest.Start(t, "n1"), clienttest.Start(t, "n3")
	members := []*quorumkvv1.Member{
		{Id: "n1", GrpcAddr: n1.Addr(), State: quorumkvv1.Liveness_LIVENESS_ALIVE, RingState: quorumkvv1.RingState_RING_STATE_NORMAL, Ownership: 0.5},
		{Id: "n2", GrpcAddr: "127.0.0.1:1", State: quorumkvv1.Liveness_LIVENESS_DEAD, RingState: quorumkvv1.RingState_RING_STATE_LEFT},
		{Id: "n3", GrpcAddr: n3.Addr(), State: quorumkvv1.Liveness_LIVENESS_ALIVE, RingState: quorumkvv1.RingState_RING_STATE_NORMAL, Ownership: 0.5},
	}
	n1.SetMemberList(members...)
	n1.SetRingTable(&quorumkvv1.RingTableResponse{Partitions: 2, PartitionsReplicas: []*quorumkvv1.PartitionReplicas{
		{Replicas: []string{"n1", "n3"}}, {Replicas: []string{"n3", "n1"}}}})
	roots := []*quorumkvv1.PartitionRoot{{Partition: 0, Root: []byte("a")}, {Partition: 1, Root: []byte("b")}}
	digest := []byte{0xab, 0x01}
	n1.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n1", Joined: true, Keys: 10, StorageBytes: 3 << 20, Digest: digest, PartitionRoots: roots,
		LastAntiEntropy: []*quorumkvv1.AntiEntropyRound{{Peer: "n3", Time: timestamppb.New(time.Now().Add(-30 * time.Second))}}})
	n3.SetStatus(&quorumkvv1.StatusResponse{NodeId: "n3", Joined: true, Keys: 10, StorageBytes: 1500, Digest: digest, PartitionRoots: roots})

	obj := decode(t, kvctl(t, n1.Addr(), "-o", "json", "status", "--cluster").stdout)
	if got, want := keysOf(obj), sorted("members", "in_sync"); !slices.Equal(got, want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
	if obj["in_sync"] != true {
		t.Errorf("in_sync = %v, want true", obj["in_sync"])
	}
	ms := obj["members"].([]any)
	if len(ms) != 3 {
		t.Fatalf("members = %v", ms)
	}
	m1, m2 := ms[0].(map[string]any), ms[1].(map[string]any)
	want := sorted("id", "state", "ring_state", "ownership", "keys", "tombstones", "hints_pending", "storage_bytes", "last_anti_entropy_seconds", "digest")
	if got := keysOf(m1); !slices.Equal(got, want) {
		t.Errorf("member fields = %v, want %v", got, want)
	}
	if m1["keys"] != 10.0 || m1["digest"] != "0000000000000000000000000000ab01" || m1["last_anti_entropy_seconds"].(float64) < 29 {
		t.Errorf("n1 = %v", m1)
	}
	if m2["state"] != "dead" || m2["keys"] != 0.0 || m2["digest"] != "" || m2["last_anti_entropy_seconds"] != nil {
		t.Errorf("dead n2 = %v", m2)
	}
	if ms[2].(map[string]any)["last_anti_entropy_seconds"] != nil {
		t.Errorf("n3 without a round: %v", ms[2])
	}

	out := kvctl(t, n1.Addr(), "status", "--cluster").stdout
	for _, w := range []string{"n1  alive", "3.0 MiB", "1.5 KiB", "30s", "never", "00000000000", "in sync"} {
		if !strings.Contains(out, w) {
			t.Errorf("text output lacks %q:\n%s", w, out)
		}
	}

	// n3 stops answering: no figures for it, and not in sync.
	n3.Stop()
	obj = decode(t, kvctl(t, n1.Addr(), "--timeout", "1s", "-o", "json", "status", "--cluster").stdout)
	if obj["in_sync"] != false {
		t.Errorf("in_sync with n3 silent = %v, want false", obj["in_sync"])
	}
	if m3 := obj["members"].([]any)[2].(map[string]any); m3["digest"] != "" || m3["error"] == nil {
		t.Errorf("silent n3 = %v", m3)
	}
}
