package cluster

import (
	"fmt"
	"testing"
	"time"
)

func TestHearing_suspect(t *testing.T) {
	const interval, timeout = time.Second, 500 * time.Millisecond
	now := time.Unix(1000, 0)
	tests := map[string]struct {
		peers int
		run   func(h *hearing)
		want  bool
	}{
		"never heard of counts as heard now": {peers: 2, run: func(*hearing) {}, want: false},
		"others probed within one round of x": {peers: 3, run: func(h *hearing) {
			h.ack("x")
			for range 4 { // 2(k-1) = 4 others at most between two probes of x
				h.ack("y")
			}
		}, want: false},
		"x's turn passed unanswered": {peers: 3, run: func(h *hearing) {
			h.ack("x")
			for range 5 {
				h.ack("y")
			}
		}, want: true},
		"one peer, heard within 2k+1 intervals": {peers: 1, run: func(h *hearing) {
			h.ack("x")
			now = now.Add(3*interval + timeout)
		}, want: false},
		"one peer, silent for longer": {peers: 1, run: func(h *hearing) {
			h.ack("x")
			now = now.Add(3*interval + timeout + time.Millisecond)
		}, want: true},
		"rejoined counts as heard": {peers: 2, run: func(h *hearing) {
			h.ack("x")
			for range 5 {
				h.ack("y")
			}
			h.seen("x")
		}, want: false},
		"forgotten then seen again is not suspect": {peers: 2, run: func(h *hearing) {
			h.ack("x")
			now = now.Add(time.Hour)
			h.forget("x")
		}, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHearing(interval, timeout, func() time.Time { return now })
			tc.run(h)
			if got := h.suspect("x", tc.peers); got != tc.want {
				t.Fatalf("suspect = %v, want %v", got, tc.want)
			}
		})
	}
}

// A member that stops answering shows suspect on the others as soon as
// their probes of it go unanswered, long before memberlist declares it
// dead; healthy members are never shown suspect.
func TestMembership_silentNodeIsSuspectBeforeDead(t *testing.T) {
	c := newTestCluster(t)
	c.timings.suspicionMult = 20 // memberlist takes seconds to declare death
	n1, _, n3, all := c.threeConverged()

	// Healthy for a while: nobody is ever seen suspect.
	watch := time.NewTicker(10 * time.Millisecond)
	defer watch.Stop()
	for end := time.Now().Add(10 * c.timings.probe); time.Now().Before(end); <-watch.C {
		for _, n := range all {
			for _, id := range []string{"n1", "n2", "n3"} {
				if l := liveness(n, id); l != LivenessAlive {
					t.Fatalf("healthy cluster: %s sees %s %s", n.id, id, l)
				}
			}
		}
	}

	stopped := time.Now()
	c.stop(n3)
	eventually(t, detect, "n3 suspect on n1 and n2", func() error {
		for _, n := range all[:2] {
			if l := liveness(n, "n3"); l != LivenessSuspect {
				return fmt.Errorf("%s sees n3 %s", n.id, l)
			}
			if got, _ := n.m.Member("n3"); got.Liveness != LivenessSuspect {
				return fmt.Errorf("%s: Member(n3) is %s", n.id, got.Liveness)
			}
		}
		return nil
	})
	t.Logf("n3 suspect on both survivors %v after it stopped", time.Since(stopped).Round(time.Millisecond))
	if got := n1.m.AliveCount(); got != 3 {
		t.Fatalf("AliveCount = %d while n3 is only suspect, want 3", got)
	}
	eventually(t, 30*time.Second, "n3 dead on n1", func() error {
		if l := liveness(n1, "n3"); l != LivenessDead {
			return fmt.Errorf("n1 sees n3 %s", l)
		}
		return nil
	})
}
