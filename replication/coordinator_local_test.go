package replication_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
	"github.com/quorumkv/quorumkv/storage"
)

// The coordinator's own write becomes durable while the other replicas
// are sent the object: its acknowledgement counts toward W like theirs,
// once its store reports it durable, and the answer waits for it (DESIGN.md,
// Writes). A local failure is this node's failure in the receipt.
func TestCoordinator_Put_localWriteInParallel(t *testing.T) {
	tests := map[string]struct {
		level replication.Level
		// crash fails n1's own write with this error instead of making it
		// durable.
		crash   error
		wantErr bool
		// wantAcked are the replicas acknowledged, in any order; when the
		// write fails, some may still be pending (it answers as soon as
		// the level can no longer be met).
		wantAcked  []string
		wantFailed string // n1's reason
	}{
		"one waits for the local write, though the others acknowledged": {
			level: replication.One, wantAcked: []string{"n1", "n2", "n3"},
		},
		"all waits for the local write": {
			level: replication.All, wantAcked: []string{"n1", "n2", "n3"},
		},
		"a local failure is the coordinator's": {
			level: replication.All, crash: errors.New("disk on fire"), wantErr: true,
			wantAcked: []string{"n2", "n3"}, wantFailed: "local write not durable: disk on fire",
		},
		"a local failure with the level met by the others": {
			level: replication.Quorum, crash: errors.New("disk on fire"),
			wantAcked: []string{"n2", "n3"}, wantFailed: "local write not durable: disk on fire",
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
			select {
			case got := <-done:
				t.Fatalf("answered %+v, %v before n1's own write was durable", got.r, got.err)
			default:
			}
			if tc.crash != nil {
				n1.Staged.Crash(tc.crash)
			} else if err := n1.Staged.Release(); err != nil {
				t.Fatal(err)
			}
			got := <-done

			if (got.err != nil) != tc.wantErr {
				t.Fatalf("put: %v, want an error: %v", got.err, tc.wantErr)
			}
			if tc.wantErr && got.err.Error() != wantError(got.r, true) {
				t.Fatalf("error %q, want %q", got.err, wantError(got.r, true))
			}
			r := got.r
			acked := r.Acknowledged
			if tc.wantErr {
				acked = append(slices.Clone(acked), r.Pending...)
			} else if len(r.Pending) != 0 {
				t.Fatalf("receipt %+v: pending replicas in a write that met its level after all had answered", r)
			}
			if !sameSet(acked, tc.wantAcked) {
				t.Fatalf("receipt %+v: want acknowledged %v", r, tc.wantAcked)
			}
			switch {
			case len(r.Acknowledged) == 3 && r.Applied != replication.AppliedAll,
				len(r.Acknowledged) < 3 && r.Applied == replication.AppliedAll,
				r.Applied == replication.AppliedNone:
				t.Fatalf("receipt %+v: applied %v", r, r.Applied)
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
			keys := []string{"a", "b"}
			errs := make(chan error, len(keys))
			for _, k := range keys {
				go func() {
					_, err := n1.Coord.Put(ctx, []byte(k), []byte("v"), nil, replication.Quorum)
					errs <- err
				}()
			}
			replicationtest.Eventually(t, awaitTimeout, func() bool { return n1.Staged.Pending() == len(keys) },
				"%d of n1's writes staged, want %d", n1.Staged.Pending(), len(keys))
			if n := n1.Staged.Crash(tc.crash); n != len(keys) {
				t.Fatalf("%d staged writes crashed, want %d", n, len(keys))
			}
			n1.Staged.Hold(false)
			for range keys {
				// n2 and n3 acknowledged: the level is met without n1.
				if err := <-errs; err != nil {
					t.Fatalf("QUORUM put whose local write failed: %v", err)
				}
			}

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
			// Either kind keeps the node from counting its shutdown clean.
			if n := n1.Coord.LocalWriteFailures(); n != int64(len(keys)) {
				t.Fatalf("LocalWriteFailures() = %d, want %d", n, len(keys))
			}
		})
	}
}
