package main

import (
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/client/clienttest"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// ring marks the replicas the answering node sees down: (dead) or
// (suspect) in text, the down list in JSON beside the plain ids.
func TestKvctl_ringMarksDownReplicas(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.SetMemberList(
		&quorumkvv1.Member{Id: "n1", State: quorumkvv1.Liveness_LIVENESS_ALIVE, RingState: quorumkvv1.RingState_RING_STATE_NORMAL},
		&quorumkvv1.Member{Id: "n2", State: quorumkvv1.Liveness_LIVENESS_DEAD, RingState: quorumkvv1.RingState_RING_STATE_NORMAL},
		&quorumkvv1.Member{Id: "n3", State: quorumkvv1.Liveness_LIVENESS_SUSPECT, RingState: quorumkvv1.RingState_RING_STATE_NORMAL},
	)
	srv.SetRing(&quorumkvv1.RingResponse{Partition: 7, Replicas: []string{"n2", "n1", "n3"}})
	want := "partition  7\nreplicas   n2(dead) n1 n3(suspect)\n"
	if res := kvctl(t, srv.Addr(), "ring", "k"); res.code != 0 || res.stdout != want {
		t.Fatalf("ring: %+v, want stdout %q", res, want)
	}
	obj := decode(t, kvctl(t, srv.Addr(), "-o", "json", "ring", "k").stdout)
	ids := func(v any) []string {
		var out []string
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	if got := ids(obj["replicas"]); !slices.Equal(got, []string{"n2", "n1", "n3"}) {
		t.Errorf("replicas = %v", got)
	}
	if got := ids(obj["down"]); !slices.Equal(got, []string{"n2", "n3"}) {
		t.Errorf("down = %v", got)
	}
}
