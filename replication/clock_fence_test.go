package replication

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFenceDecision(t *testing.T) {
	const maxOffset = 500 * time.Millisecond // limit 400ms
	ms := time.Millisecond
	tests := map[string]struct {
		clocks     int
		offsets    []time.Duration
		refused    bool
		wantFenced bool
		wantOffset time.Duration
		wantReason string // a substring; "" wants none
	}{
		"alone":                               {clocks: 1, wantOffset: 0},
		"two clocks far apart only log":       {clocks: 2, offsets: []time.Duration{-5000 * ms}, wantOffset: 2500 * ms, wantReason: "fewer than three clocks"},
		"two clocks, refused, only log":       {clocks: 2, refused: true},
		"three, none measured":                {clocks: 3, wantFenced: true, wantReason: "not yet a majority"},
		"three, one measured, agreeing":       {clocks: 3, offsets: []time.Duration{10 * ms}, wantOffset: -5 * ms},
		"three, all agree":                    {clocks: 3, offsets: []time.Duration{100 * ms, -100 * ms}, wantOffset: 0},
		"three, we are 5s fast":               {clocks: 3, offsets: []time.Duration{-5000 * ms, -5001 * ms}, wantFenced: true, wantOffset: 5000 * ms, wantReason: "more than 0.8"},
		"three, a peer 5s fast: not us":       {clocks: 3, offsets: []time.Duration{5000 * ms, 1 * ms}, wantOffset: -1 * ms},
		"three, a peer 5s slow: not us":       {clocks: 3, offsets: []time.Duration{-5000 * ms, -2 * ms}, wantOffset: 2 * ms},
		"three, we are just within 0.8":       {clocks: 3, offsets: []time.Duration{-400 * ms, -400 * ms}, wantOffset: 400 * ms},
		"three, we are just beyond 0.8":       {clocks: 3, offsets: []time.Duration{-401 * ms, -450 * ms}, wantFenced: true, wantOffset: 401 * ms},
		"three, we are 450ms slow":            {clocks: 3, offsets: []time.Duration{450 * ms, 460 * ms}, wantFenced: true, wantOffset: -450 * ms},
		"three, refused, not yet remeasured":  {clocks: 3, refused: true, wantFenced: true, wantReason: "refused this node's timestamp"},
		"three, refused, remeasured agreeing": {clocks: 3, refused: true, offsets: []time.Duration{0, 0}},
		"five, two measured: not a majority":  {clocks: 5, offsets: []time.Duration{0}, wantFenced: true, wantReason: "2 of 5"},
		"five, median of five":                {clocks: 5, offsets: []time.Duration{-900 * ms, -800 * ms, 0, 5000 * ms}, wantOffset: 0},
		"five, we are fast against the rest":  {clocks: 5, offsets: []time.Duration{-900 * ms, -800 * ms, -700 * ms, 5000 * ms}, wantFenced: true, wantOffset: 700 * ms},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := fenceDecision(maxOffset, tc.clocks, tc.offsets, tc.refused, "n9")
			if got.Fenced != tc.wantFenced || got.Offset != tc.wantOffset {
				t.Fatalf("fenced %v offset %v (%q), want fenced %v offset %v", got.Fenced, got.Offset, got.Reason, tc.wantFenced, tc.wantOffset)
			}
			if tc.wantReason == "" && got.Reason != "" && !tc.wantFenced {
				t.Fatalf("reason %q, want none", got.Reason)
			}
			if !strings.Contains(got.Reason, tc.wantReason) {
				t.Fatalf("reason %q, want it to contain %q", got.Reason, tc.wantReason)
			}
		})
	}
}

// fakeNow is an injected clock for the fence's measurement ages.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

func TestClockFence_refusalFencesAtOnce(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1_700_000_000, 0)}
	f, err := NewClockFence(ClockFenceConfig{NodeID: "n1", MaxOffset: 500 * time.Millisecond,
		Alive: func() []string { return []string{"n2", "n3"} }, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Check(); !errors.Is(err, ErrClockFenced) {
		t.Fatalf("before any measurement: %v, want fenced", err)
	}
	f.Observe("n2", 3*time.Millisecond)
	f.Observe("n3", -time.Millisecond)
	if err := f.Check(); err != nil {
		t.Fatalf("measured in agreement: %v", err)
	}
	clk.t = clk.t.Add(time.Second)
	f.Refused("n2")
	err = f.Check()
	var fe *ClockFencedError
	if !errors.As(err, &fe) || fe.Node != "n1" || !strings.Contains(err.Error(), "n2 refused") {
		t.Fatalf("after a refusal: %v, want fenced naming n2", err)
	}
	clk.t = clk.t.Add(time.Second)
	f.Observe("n3", 0) // one fresh measurement: a majority of three clocks
	if err := f.Check(); err != nil {
		t.Fatalf("remeasured in agreement: %v", err)
	}
}

func TestClockFence_oldMeasurementsExpire(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1_700_000_000, 0)}
	alive := []string{"n2", "n3"}
	f, err := NewClockFence(ClockFenceConfig{NodeID: "n1", MaxOffset: 500 * time.Millisecond, MaxAge: 10 * time.Second,
		Alive: func() []string { return alive }, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	f.ObserveRoundTrip("n2", clk.t.Add(-3*time.Second), clk.t, clk.t.Add(20*time.Millisecond)) // we are 3s fast
	f.Observe("n3", -3*time.Second)
	st := f.State()
	if !st.Fenced || st.Offset < 2900*time.Millisecond {
		t.Fatalf("3s fast: %+v, want fenced", st)
	}
	clk.t = clk.t.Add(11 * time.Second)
	if st := f.State(); !st.Fenced || st.Measured != 0 {
		t.Fatalf("measurements expired: %+v, want fenced with none measured", st)
	}
	alive = nil // alone now: never fenced
	if err := f.Check(); err != nil {
		t.Fatalf("alone: %v", err)
	}
}

// A refusal by a replica whose clock the measurements put behind the
// others' is that replica's failure: the coordinator is not fenced. A
// refusal by a replica in agreement fences it.
func TestClockFence_refusedBySlowPeer(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1_700_000_000, 0)}
	f, err := NewClockFence(ClockFenceConfig{NodeID: "n1", MaxOffset: 500 * time.Millisecond,
		Alive: func() []string { return []string{"n2", "n3"} }, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	f.Observe("n2", 2*time.Millisecond)
	f.Observe("n3", -5*time.Second)
	if !f.PeerBehind("n3") || f.PeerBehind("n2") {
		t.Fatalf("PeerBehind: n3 %v, n2 %v; want n3 alone", f.PeerBehind("n3"), f.PeerBehind("n2"))
	}
	if f.Refused("n3") {
		t.Fatal("a refusal by the slow n3 blamed n1")
	}
	if err := f.Check(); err != nil {
		t.Fatalf("fenced by the slow n3's refusal: %v", err)
	}
	if !f.Refused("n2") {
		t.Fatal("a refusal by n2, in agreement, did not blame n1")
	}
	if err := f.Check(); !errors.Is(err, ErrClockFenced) {
		t.Fatalf("after n2's refusal: %v, want fenced", err)
	}
}
