package ring

import (
	"sync"
	"testing"
)

// signalled reports whether ch holds a signal, consuming it.
func signalled(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestHolder_Store(t *testing.T) {
	r1 := mustNew(t, members(ids(3)...), testN, testQ)
	r1again := mustNew(t, members("n3", "n2", "n1"), testN, testQ)
	r2 := mustNew(t, members(ids(4)...), testN, testQ)
	tests := map[string]struct {
		initial    *Ring
		store      []*Ring
		wantSignal bool
		want       *Ring
	}{
		"first ring signals":             {nil, []*Ring{r1}, true, r1},
		"same pointer does not signal":   {r1, []*Ring{r1}, false, r1},
		"equal ring does not signal":     {r1, []*Ring{r1again}, false, r1},
		"changed ring signals":           {r1, []*Ring{r2}, true, r2},
		"nil over nil does not signal":   {nil, []*Ring{nil}, false, nil},
		"changes coalesce into one":      {r1, []*Ring{r2, r1, r2}, true, r2},
		"change and change back signals": {r1, []*Ring{r2, r1again}, true, r1again},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := NewHolder(tc.initial)
			subs := make([]<-chan struct{}, 3)
			for i := range subs {
				ch, cancel := h.Subscribe()
				defer cancel()
				subs[i] = ch
			}
			for _, r := range tc.store {
				h.Store(r)
			}
			if !h.Load().Equal(tc.want) {
				t.Fatalf("Load() = %p, want a ring Equal to %p", h.Load(), tc.want)
			}
			for i, ch := range subs {
				if got := signalled(ch); got != tc.wantSignal {
					t.Fatalf("subscriber %d signalled = %v, want %v", i, got, tc.wantSignal)
				}
				if signalled(ch) {
					t.Fatalf("subscriber %d has a second signal; signals must coalesce", i)
				}
			}
		})
	}
}

func TestHolder_Subscribe_cancelStopsSignals(t *testing.T) {
	var h Holder // the zero value is ready to use
	kept, cancelKept := h.Subscribe()
	defer cancelKept()
	gone, cancel := h.Subscribe()
	cancel()
	cancel() // idempotent
	h.Store(mustNew(t, members("a"), testN, testQ))
	if signalled(gone) {
		t.Fatal("a cancelled subscription was signalled")
	}
	if !signalled(kept) {
		t.Fatal("the remaining subscription was not signalled")
	}
}

func TestHolder_concurrentUse(t *testing.T) {
	rings := make([]*Ring, 4)
	for i := range rings {
		rings[i] = mustNew(t, members(ids(i+1)...), testN, 64)
	}
	h := NewHolder(rings[0])
	ch, cancel := h.Subscribe()
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				h.Store(rings[(w+i)%len(rings)])
				if r := h.Load(); r == nil || r.Q() != 64 {
					t.Errorf("Load() = %v during concurrent Stores", r)
					return
				}
				_, c := h.Subscribe()
				c()
			}
		})
	}
	wg.Wait()
	if !signalled(ch) {
		t.Fatal("no signal after concurrent changes")
	}
}
