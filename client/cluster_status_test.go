package client

import (
	"errors"
	"testing"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// TestInSync decides in_sync per replica set: the roots of each
// partition's replicas must agree, every replica must have answered, and
// when every member replicates everything the digests must agree too.
func TestInSync(t *testing.T) {
	a, b := []byte("root-a"), []byte("root-b")
	d1, d2 := []byte("digest-1"), []byte("digest-2")
	st := func(digest []byte, roots map[uint32][]byte) *Status {
		return &Status{Digest: digest, PartitionRoots: roots}
	}
	member := func(id string, s *Status) MemberReport {
		r := MemberReport{Member: Member{ID: id, State: Alive, RingState: Normal}, Status: s}
		if s == nil {
			r.State, r.Err = Dead, errors.New("no answer")
		}
		return r
	}
	// Two partitions, N = 2 of 3 members: p0 on n1,n2; p1 on n2,n3.
	split := &quorumkvv1.RingTableResponse{Partitions: 2, PartitionsReplicas: []*quorumkvv1.PartitionReplicas{
		{Replicas: []string{"n1", "n2"}}, {Replicas: []string{"n2", "n3"}}}}
	// N = 3 of 3: everything everywhere.
	full := &quorumkvv1.RingTableResponse{Partitions: 2, PartitionsReplicas: []*quorumkvv1.PartitionReplicas{
		{Replicas: []string{"n1", "n2", "n3"}}, {Replicas: []string{"n2", "n3", "n1"}}}}
	tests := map[string]struct {
		members []MemberReport
		table   *quorumkvv1.RingTableResponse
		want    bool
	}{
		"split, replica sets agree although digests differ": {
			members: []MemberReport{
				member("n1", st(d1, map[uint32][]byte{0: a})),
				member("n2", st(d2, map[uint32][]byte{0: a, 1: b})),
				member("n3", st(d1, map[uint32][]byte{1: b})),
			},
			table: split, want: true,
		},
		"split, one partition's replicas differ": {
			members: []MemberReport{
				member("n1", st(d1, map[uint32][]byte{0: a})),
				member("n2", st(d1, map[uint32][]byte{0: a, 1: a})),
				member("n3", st(d1, map[uint32][]byte{1: b})),
			},
			table: split, want: false,
		},
		"split, a replica did not answer": {
			members: []MemberReport{
				member("n1", st(d1, map[uint32][]byte{0: a})),
				member("n2", st(d1, map[uint32][]byte{0: a, 1: b})),
				member("n3", nil),
			},
			table: split, want: false,
		},
		"full, equal roots and digests": {
			members: []MemberReport{
				member("n1", st(d1, map[uint32][]byte{0: a, 1: b})),
				member("n2", st(d1, map[uint32][]byte{0: a, 1: b})),
				member("n3", st(d1, map[uint32][]byte{0: a, 1: b})),
			},
			table: full, want: true,
		},
		"full, equal roots but digests differ": {
			members: []MemberReport{
				member("n1", st(d1, map[uint32][]byte{0: a, 1: b})),
				member("n2", st(d2, map[uint32][]byte{0: a, 1: b})),
				member("n3", st(d1, map[uint32][]byte{0: a, 1: b})),
			},
			table: full, want: false,
		},
		"a replica that does not see itself as one": {
			members: []MemberReport{
				member("n1", st(d1, map[uint32][]byte{0: a})),
				member("n2", st(d1, map[uint32][]byte{0: a, 1: b})),
				member("n3", st(d1, map[uint32][]byte{})),
			},
			table: split, want: false,
		},
		"no ring": {
			members: []MemberReport{member("n1", st(d1, nil))},
			want:    false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := inSync(tc.members, tc.table); got != tc.want {
				t.Fatalf("inSync = %v, want %v", got, tc.want)
			}
		})
	}
}
