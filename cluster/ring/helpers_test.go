package ring

import (
	"fmt"
	"testing"
)

// quorumkv's partition count and default replication factor and vnodes.
const (
	testQ      = 1024
	testN      = 3
	testVNodes = 64
)

// members returns Normal members with the given ids and testVNodes each.
func members(ids ...string) []Member {
	ms := make([]Member, len(ids))
	for i, id := range ids {
		ms[i] = Member{ID: id, VNodes: testVNodes, State: Normal}
	}
	return ms
}

// ids returns "n1".."nk".
func ids(k int) []string { return idsWith(k, func(i int) string { return fmt.Sprintf("n%d", i) }) }

// idsWith returns f(1)..f(k).
func idsWith(k int, f func(i int) string) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = f(i + 1)
	}
	return out
}

// mustNew builds a ring or fails the test.
func mustNew(t testing.TB, ms []Member, n, q int) *Ring {
	t.Helper()
	r, err := New(ms, n, q)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// withState returns ms with the member id set to state s.
func withState(ms []Member, id string, s State) []Member {
	out := append([]Member(nil), ms...)
	for i := range out {
		if out[i].ID == id {
			out[i].State = s
		}
	}
	return out
}

// copies returns the set of (partition, replica) pairs of the current view.
func copies(r *Ring) map[[2]string]bool {
	out := make(map[[2]string]bool)
	for p := range r.Q() {
		for _, id := range r.Replicas(p) {
			out[[2]string{fmt.Sprint(p), id}] = true
		}
	}
	return out
}
