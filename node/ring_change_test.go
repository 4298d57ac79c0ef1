package node

import (
	"testing"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/keyspace"
)

func TestHandOffProgress(t *testing.T) {
	r, err := ring.New([]ring.Member{
		{ID: "a", VNodes: 8, State: ring.Normal},
		{ID: "b", VNodes: 8, State: ring.Normal},
		{ID: "c", VNodes: 8, State: ring.Normal},
		{ID: "d", VNodes: 8, State: ring.Leaving},
	}, 3, 64)
	if err != nil {
		t.Fatal(err)
	}
	parts := r.PartitionsOf("d")
	if len(parts) == 0 {
		t.Fatal("d replicates nothing")
	}
	total, done := handOffProgress(r, "d", nil)
	if total != len(parts) || done != 0 {
		t.Fatalf("nothing sent: %d of %d, want 0 of %d", done, total, len(parts))
	}
	// Every partition of a leaving member gets one pending replica: the
	// member that takes its place.
	sent := map[string]map[keyspace.Partition]bool{}
	for _, p := range parts {
		pend := r.Pending(p)
		if len(pend) != 1 {
			t.Fatalf("partition %d: pending %v, want one", p, pend)
		}
		if sent[pend[0]] == nil {
			sent[pend[0]] = map[keyspace.Partition]bool{}
		}
		sent[pend[0]][keyspace.Partition(p)] = true
	}
	if total, done := handOffProgress(r, "d", sent); total != len(parts) || done != len(parts) {
		t.Fatalf("all sent: %d of %d, want %d of %d", done, total, len(parts), len(parts))
	}
	delete(sent[r.Pending(parts[0])[0]], keyspace.Partition(parts[0]))
	if _, done := handOffProgress(r, "d", sent); done != len(parts)-1 {
		t.Fatalf("one not sent: %d done, want %d", done, len(parts)-1)
	}
}
