package replication_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

// A delete or srem that cannot read at its level says so under its own
// name, not as a read, and that nothing was written.
func TestCoordinator_readFirstOps_nameTheirOperation(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	ctx := testCtx(t)
	n1 := c.Node("n1").Coord
	if _, err := n1.Put(ctx, []byte("r"), []byte("v"), nil, replication.All); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.SetAdd(ctx, []byte("s"), [][]byte{[]byte("m")}, replication.All); err != nil {
		t.Fatal(err)
	}
	c.Kill("n3")

	_, err := n1.Delete(ctx, []byte("r"), replication.All)
	quorumError(t, err)
	if want := "ALL delete: 2 of 3 required answers to its read (n3 unreachable); applied nowhere"; err.Error() != want {
		t.Errorf("delete error:\n got %q\nwant %q", err, want)
	}
	_, err = n1.SetRemove(ctx, []byte("s"), [][]byte{[]byte("m")}, replication.All)
	quorumError(t, err)
	if want := "ALL srem: 2 of 3 required answers to its read (n3 unreachable); applied nowhere"; err.Error() != want {
		t.Errorf("srem error:\n got %q\nwant %q", err, want)
	}
	if !c.HoldsValue("n1", []byte("r"), []byte("v")) {
		t.Error("the failed delete changed n1's copy")
	}
	// A plain read still reads as one.
	_, err = n1.Get(ctx, []byte("r"), replication.All)
	if want := "ALL read: 2 of 3 required answers (n3 unreachable)"; err == nil || err.Error() != want {
		t.Errorf("get error:\n got %v\nwant %q", err, want)
	}
}

// The error and receipt of a failed write are as of the answer: a replica
// that acknowledges later does not change them, and the text does not call
// it pending, which would read as still in flight when it is printed.
func TestCoordinator_Put_lateAcknowledgementAfterFailedAnswer(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	ctx := testCtx(t)
	key, value := []byte("k"), []byte("v")
	release, applied := make(chan struct{}), make(chan error, 1)
	c.Node("n1").Transport.SetHook(func(ctx context.Context, op, peer string, key []byte, next func(context.Context) error) error {
		if op != "apply" || peer != "n3" {
			return next(ctx)
		}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := next(ctx)
		applied <- err
		return err
	})
	c.Kill("n2") // fails at once: ALL can no longer be met while n3 is held

	r, err := c.Node("n1").Coord.Put(ctx, key, value, nil, replication.All)
	quorumError(t, err)
	atAnswer := err.Error()
	const want = "ALL write: 1 of 3 required acknowledgements (n2 unreachable, n3 had not answered yet); applied on n1"
	if atAnswer != want {
		t.Fatalf("error:\n got %q\nwant %q", atAnswer, want)
	}
	if !slices.Equal(r.Pending, []string{"n3"}) || r.Applied != replication.AppliedPartial {
		t.Fatalf("receipt %+v: want n3 pending, applied partial", r)
	}

	close(release)
	if err := <-applied; err != nil {
		t.Fatalf("n3's late write: %v", err)
	}
	if !c.HoldsValue("n3", key, value) {
		t.Fatal("n3 acknowledged but does not hold the value")
	}
	if got := err.Error(); got != atAnswer || strings.Contains(got, "pending") {
		t.Errorf("error after n3's late acknowledgement:\n got %q\nwant %q", got, atAnswer)
	}
	if qe := quorumError(t, err); !slices.Equal(qe.Receipt.Pending, []string{"n3"}) || slices.Contains(qe.Receipt.Acknowledged, "n3") {
		t.Errorf("receipt changed after the answer: %+v", qe.Receipt)
	}
}
