package replication_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
	"github.com/quorumkv/quorumkv/storage"
)

// The coordinator's own write becomes durable while the other replicas
// are sent the object: its acknowledgement counts toward W like theirs,
// once its store reports it durable (DESIGN.md, Writes).
func TestCoordinator_Put_localWriteInParallel(t *testing.T) {
	tests := map[string]struct {
		level replication.Level
		// crash fails n1's own write with this error instead of making it
		// durable.
		crash       error
		wantErr     bool
		wantAcked   []string // in any order
		wantPending []string
		wantFailed  string // n1's reason
		wantApplied replication.Applied
	}{
		"quorum is met by the others before the local write is durable": {
			level: replication.Quorum, wantAcked: []string{"n2", "n3"}, wantPending: []string{"n1"}, wantApplied: replication.AppliedPartial,
		},
		"all waits for the local write": {
			level: replication.All, wantAcked: []string{"n1", "n2", "n3"}, wantApplied: replication.AppliedAll,
		},
		"a local write that fails is a failure of the coordinator": {
			level: replication.All, crash: errors.New("disk on fire"), wantErr: true,
			wantAcked: []string{"n2", "n3"}, wantFailed: "local write not durable: disk on fire", wantApplied: replication.AppliedPartial,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{Staged: true})
			ctx := testCtx(t)
			n1 := c.Node("n1")
			key, value := []byte("k"), []byte("v")
			n1.Staged.Hold(true)
			type outcome struct {
				r   replication.Receipt
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				r, err := n1.Coord.Put(ctx, key, value, nil, tc.level)
				done <- outcome{r, err}
			}()
			// The others get the object while n1's copy is not durable.
			replicationtest.Eventually(t, awaitTimeout, func() bool { return c.HoldsValue("n2", key, value) && c.HoldsValue("n3", key, value) },
				"the other replicas did not get the write while n1's own was held")
			if n := n1.Staged.Pending(); n != 1 {
				t.Fatalf("n1 has %d writes staged, want 1", n)
			}
			if c.HoldsValue("n1", key, value) {
				t.Fatal("n1's engine holds a write it has not made durable")
			}
			var got outcome
			if tc.wantPending != nil {
				got = <-done // answered without n1
			} else {
				select {
				case got = <-done:
					t.Fatalf("answered %+v, %v before n1's own write was durable", got.r, got.err)
				default:
				}
			}
			if tc.crash != nil {
				n1.Staged.Crash(tc.crash)
			} else if err := n1.Staged.Release(); err != nil {
				t.Fatal(err)
			}
			if tc.wantPending == nil {
				got = <-done
			}

			if (got.err != nil) != tc.wantErr {
				t.Fatalf("put: %v, want an error: %v", got.err, tc.wantErr)
			}
			if tc.wantErr && got.err.Error() != wantError(got.r, true) {
				t.Fatalf("error %q, want %q", got.err, wantError(got.r, true))
			}
			r := got.r
			if !sameSet(r.Acknowledged, tc.wantAcked) || !sameSet(r.Pending, tc.wantPending) || r.Applied != tc.wantApplied {
				t.Fatalf("receipt %+v: want acknowledged %v, pending %v, applied %v", r, tc.wantAcked, tc.wantPending, tc.wantApplied)
			}
			if reason := failedReason(r, "n1"); reason != tc.wantFailed {
				t.Fatalf("n1's failure %q, want %q", reason, tc.wantFailed)
			}
			if r.HintsWritten != 0 || hintsLeft(t, c) != 0 {
				t.Fatalf("hints written %d, stored %d: the coordinator leaves no hint for itself", r.HintsWritten, hintsLeft(t, c))
			}
			if want := tc.crash == nil; c.HoldsValue("n1", key, value) != want {
				t.Fatalf("n1 holds the write: %v, want %v", !want, want)
			}
		})
	}
}

// A failed local log write or fsync (storage.ErrFatal) stops the node: the
// coordinator reports it once through OnFatal and refuses writes from then
// on. Another local failure is only its write's.
func TestCoordinator_Put_fatalLocalFailure(t *testing.T) {
	tests := map[string]struct {
		crash     error
		wantFatal bool
	}{
		"a failed fsync stops the node":           {fmt.Errorf("fsync commit log: input/output error: %w", storage.ErrFatal), true},
		"another local failure is only a write's": {errors.New("disk on fire"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fatal := make(chan error, 4)
			c := newCluster(t, replicationtest.ClusterConfig{Staged: true, Coordinator: func(id string, cfg *replication.Config) {
				if id == "n1" {
					cfg.OnFatal = func(err error) { fatal <- err }
				}
			}})
			ctx := testCtx(t)
			n1 := c.Node("n1")
			n1.Staged.Hold(true)
			for _, k := range []string{"a", "b"} {
				if _, err := n1.Coord.Put(ctx, []byte(k), []byte("v"), nil, replication.Quorum); err != nil {
					t.Fatalf("QUORUM put of %s while n1's own write is held: %v", k, err)
				}
			}
			if n := n1.Staged.Crash(tc.crash); n != 2 {
				t.Fatalf("%d staged writes crashed, want 2", n)
			}
			n1.Staged.Hold(false)

			if tc.wantFatal {
				select {
				case err := <-fatal:
					if !errors.Is(err, storage.ErrFatal) {
						t.Fatalf("OnFatal(%v): want an error matching storage.ErrFatal", err)
					}
				case <-ctx.Done():
					t.Fatal("OnFatal was not called")
				}
				key := []byte("c")
				r, err := n1.Coord.Put(ctx, key, []byte("v"), nil, replication.One)
				if !errors.Is(err, storage.ErrFatal) || r.Applied != replication.AppliedNone {
					t.Fatalf("put after the fatal failure: %v, applied %v; want refused (storage.ErrFatal), applied none", err, r.Applied)
				}
				for _, id := range c.IDs() {
					if vs, err := c.Values(id, key); err != nil || vs != nil {
						t.Fatalf("%s holds %q (%v) of a refused write", id, vs, err)
					}
				}
			}
			// Close waits for the coordinator's goroutines: both local
			// outcomes have been handled.
			_ = n1.Coord.Close() // reports no error
			if n := len(fatal); n != 0 {
				t.Fatalf("OnFatal called %d more times, want once at most", n)
			}
		})
	}
}
