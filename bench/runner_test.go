package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/client/clienttest"
)

// TestRun_openLoopShowsAStallTheClosedLoopHides injects a 200 ms stall into
// a store that otherwise answers in 1 ms. A closed loop stops issuing
// while it waits, so only the few operations in flight see the stall and
// the percentiles hide it (coordinated omission); the open loop measures
// from each operation's intended start, so the operations due during the
// stall all count their wait.
func TestRun_openLoopShowsAStallTheClosedLoopHides(t *testing.T) {
	const stall = 200 * time.Millisecond
	run := func(rate float64) Result {
		f := newFakeStore(time.Millisecond)
		f.stallAt, f.stallFor = time.Now().Add(300*time.Millisecond), stall
		res, err := Run(context.Background(), f, Config{Workload: WorkloadC, Consistency: "one", Clients: 8,
			Duration: 1200 * time.Millisecond, Keys: 100, Rate: rate, Seed: *seed}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rate %g: %d ops, latency %+v", rate, res.Ops, res.LatencyUS)
		return res
	}
	closed, open := run(0), run(1000)
	if closed.Loop != "closed" || open.Loop != "open" {
		t.Fatalf("loops %q, %q", closed.Loop, open.Loop)
	}
	// Both see the stall at the max...
	for _, r := range []Result{closed, open} {
		if got := time.Duration(r.LatencyUS.Max) * time.Microsecond; got < stall*8/10 {
			t.Errorf("%s loop: max %v, want about %v", r.Loop, got, stall)
		}
	}
	// ...but only the open loop at p99.
	if got := time.Duration(closed.LatencyUS.P99) * time.Microsecond; got > stall/4 {
		t.Errorf("closed loop: p99 %v, expected the stall to hide (under %v)", got, stall/4)
	}
	if got := time.Duration(open.LatencyUS.P99) * time.Microsecond; got < stall*3/4 || got > stall*3/2 {
		t.Errorf("open loop: p99 %v, want about %v", got, stall)
	}
	// The open loop ran at its rate: about 1200 operations.
	if open.Ops < 1000 || open.Ops > 1300 {
		t.Errorf("open loop: %d ops at 1000/s for 1.2s", open.Ops)
	}
}

func TestRun_durationBoundAndSeries(t *testing.T) {
	f := newFakeStore(time.Millisecond)
	var progress []Progress
	res, err := Run(context.Background(), f, Config{Workload: WorkloadA, Consistency: "all", Clients: 2,
		Duration: 500 * time.Millisecond, Keys: 10, Interval: 100 * time.Millisecond, Seed: *seed},
		func(p Progress) { progress = append(progress, p) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Seconds < 0.5 || res.Seconds > 1 {
		t.Errorf("ran %.3fs for a 500ms duration", res.Seconds)
	}
	if len(res.Series) < 4 || len(res.Series) > 6 {
		t.Errorf("%d series points for 500ms at 100ms", len(res.Series))
	}
	// One report per interval and one for the end; the end's short tail
	// is not a point of the series.
	if n := len(progress); n != len(res.Series) && n != len(res.Series)+1 {
		t.Errorf("%d progress reports, %d series points", len(progress), len(res.Series))
	}
	for _, p := range progress {
		if p.Phase != "a/all" || p.Duration != 500*time.Millisecond {
			t.Errorf("progress %+v", p)
		}
	}
	if last := progress[len(progress)-1]; last.Done != res.Ops {
		t.Errorf("last progress says %d done, result %d", last.Done, res.Ops)
	}
}

func TestRun_canceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFakeStore(time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, f, Config{Workload: WorkloadA, Clients: 4, Duration: time.Hour, Keys: 10}, nil)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v, want context.Canceled", err)
	}
}

// TestRun_errorsByKind runs against the client's in-process fake server
// failing every request with each kind of error.
func TestRun_errorsByKind(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	c, err := client.New([]string{srv.Addr()}, client.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, tc := range map[string]struct {
		err  error
		want ErrorCounts
	}{
		"level not met": {clienttest.StatusError(codes.Unavailable, "QUORUM read: 1 of 2", srv.Receipt(2, false)), ErrorCounts{LevelNotMet: 20}},
		"timeout":       {clienttest.StatusError(codes.DeadlineExceeded, "slow", nil), ErrorCounts{Timeout: 20}},
		"other":         {clienttest.StatusError(codes.Internal, "boom", nil), ErrorCounts{Other: 20}},
	} {
		t.Run(name, func(t *testing.T) {
			srv.Fail("", tc.err)
			defer srv.Fail("", nil)
			res, err := Run(context.Background(), ClientStore{Client: c, Level: client.Quorum},
				Config{Workload: WorkloadA, Consistency: "quorum", Clients: 2, Ops: 20, Keys: 10, Seed: *seed}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ErrorsByKind != tc.want || res.Errors != 20 || res.Ops != 0 || res.OpsPerSec != 0 {
				t.Errorf("errors %+v (total %d), ops %d, ops/s %g; want %+v and no throughput", res.ErrorsByKind, res.Errors, res.Ops, res.OpsPerSec, tc.want)
			}
		})
	}
	// And a healthy server: every operation counts. (One client: the
	// fake refuses a context token that a concurrent write made stale.)
	res, err := Run(context.Background(), ClientStore{Client: c, Level: client.One},
		Config{Workload: WorkloadF, Consistency: "one", Clients: 1, Ops: 50, Keys: 10, Seed: *seed}, nil)
	if err != nil || res.Ops != 50 || res.Errors != 0 {
		t.Fatalf("healthy: ops %d, errors %d, %v", res.Ops, res.Errors, err)
	}
	if res.LatencyUS.P50 <= 0 || res.LatencyUS.Max < res.LatencyUS.P50 {
		t.Errorf("healthy: latency %+v", res.LatencyUS)
	}
}

func TestRun_openLoopCountsWhatItCouldNotSend(t *testing.T) {
	f := newFakeStore(10 * time.Millisecond)
	res, err := Run(context.Background(), f, Config{Workload: WorkloadC, Clients: 1, Duration: 300 * time.Millisecond,
		Keys: 10, Rate: 1000, Seed: *seed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One client at 10 ms per operation sends about 30 of the 300 due.
	if res.Ops > 40 || res.Ops+res.Unsent != 300 {
		t.Errorf("ops %d, unsent %d: want about 30 and 270", res.Ops, res.Unsent)
	}
	if res.Seconds > 0.5 {
		t.Errorf("ran %.2fs: an open loop stops at its duration", res.Seconds)
	}
}
