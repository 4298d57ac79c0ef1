package replication_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

// Helpers of the coordinator tests (coordinator_*_test.go), which run
// whole clusters of coordinators in one process (replicationtest.Cluster).

var coordLevels = []replication.Level{replication.One, replication.Quorum, replication.All}

// awaitTimeout bounds every wait for background work (replica writes after
// the answer, repairs, hint delivery) in these tests.
const awaitTimeout = 10 * time.Second

func newCluster(t testing.TB, cfg replicationtest.ClusterConfig) *replicationtest.Cluster {
	t.Helper()
	return replicationtest.NewCluster(t, cfg)
}

// testCtx is the context of a request: the test's deadline.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// strs turns values into strings, for messages and comparisons.
func valueStrings(vs [][]byte) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// quorumError returns err as a *QuorumError, failing t if it is not one.
func quorumError(t testing.TB, err error) *replication.QuorumError {
	t.Helper()
	var qe *replication.QuorumError
	if !errors.As(err, &qe) {
		t.Fatalf("error %v (%T): want a *replication.QuorumError", err, err)
	}
	return qe
}

// failure returns the reason the receipt gives for id, "" when it lists
// no failure of id.
func failedReason(r replication.Receipt, id string) string {
	for _, f := range r.Failed {
		if f.ID == id {
			return f.Reason
		}
	}
	return ""
}

// wantError renders what DESIGN.md says a QuorumError of receipt r reads
// as, from the receipt alone: "LEVEL write: A of R required
// acknowledgements (id reason, ..., id had not answered yet); applied on
// ids".
func wantError(r replication.Receipt, write bool) string {
	op, what := "read", "answers"
	if write {
		op, what = "write", "acknowledgements"
	}
	var parts []string
	for _, f := range r.Failed {
		parts = append(parts, f.ID+" "+f.Reason)
	}
	for _, id := range r.Pending {
		parts = append(parts, id+" had not answered yet")
	}
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + op + ": ")
	b.WriteString(strconv.Itoa(len(r.Acknowledged)) + " of " + strconv.Itoa(r.Required) + " required " + what)
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	if write {
		if len(r.Acknowledged) == 0 {
			b.WriteString("; applied nowhere")
		} else {
			// The coordinator first, then the others by id.
			var on, others []string
			for _, id := range r.Acknowledged {
				if id == r.Coordinator {
					on = append(on, id)
				} else {
					others = append(others, id)
				}
			}
			slices.Sort(others)
			b.WriteString("; applied on " + strings.Join(append(on, others...), ", "))
		}
	}
	return b.String()
}

// orderApplies makes node from's applies to then start only once one of
// its applies to first has returned, and a little later, so that the
// coordinator hears first's outcome before then's. It is how a test makes
// the order of a fan-out's answers deterministic.
func orderApplies(c *replicationtest.Cluster, from, first, then string) {
	done := make(chan struct{})
	var once sync.Once
	c.Node(from).Transport.SetHook(func(ctx context.Context, op, peer string, key []byte, next func(context.Context) error) error {
		switch {
		case op == "apply" && peer == first:
			err := next(ctx)
			once.Do(func() { close(done) })
			return err
		case op == "apply" && peer == then:
			select {
			case <-done:
			case <-ctx.Done():
				return ctx.Err()
			}
			time.Sleep(20 * time.Millisecond)
		}
		return next(ctx)
	})
}

// sibling returns the only live sibling node id's engine holds for key.
func liveSibling(t testing.TB, c *replicationtest.Cluster, id string, key []byte) conflict.Sibling {
	t.Helper()
	o, err := c.Node(id).Engine.Get(key)
	if err != nil {
		t.Fatalf("%s: get %q: %v", id, key, err)
	}
	live := o.Reg.Live()
	if len(live) != 1 {
		t.Fatalf("%s holds %d live siblings for %q, want 1", id, len(live), key)
	}
	return live[0]
}

// later reports whether a is later than b in DESIGN.md's sense: a greater
// (hlc, actor).
func isLater(a, b conflict.Sibling) bool {
	if c := a.TS.Compare(b.TS); c != 0 {
		return c > 0
	}
	return a.Dot.Actor > b.Dot.Actor
}

// awaitConverged delivers hints on every node until every engine holds the
// same data and no hint is left.
func awaitConverged(t testing.TB, c *replicationtest.Cluster) {
	t.Helper()
	ctx := testCtx(t)
	replicationtest.Eventually(t, awaitTimeout, func() bool {
		c.DeliverHints(ctx)
		return c.Converged() && hintsLeft(t, c) == 0
	}, "replicas did not converge: digests %x, %d hints left", c.Digests(), hintsLeft(t, c))
}

// hintsLeft counts the hints every node holds.
func hintsLeft(t testing.TB, c *replicationtest.Cluster) int {
	t.Helper()
	n := 0
	for _, node := range c.Nodes {
		for _, target := range c.IDs() {
			if target == node.ID {
				continue
			}
			hs, err := node.Engine.Hints(target, 0)
			if err != nil {
				t.Fatal(err)
			}
			n += len(hs)
		}
	}
	return n
}
