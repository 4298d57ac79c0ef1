package conflict_test

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
)

// stepWall is an injected wall clock: each reading returns now, then adds
// step (which may be zero or negative).
type stepWall struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (w *stepWall) read() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.now
	w.now = w.now.Add(w.step)
	return t
}

func (w *stepWall) set(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = t
}

var epoch = time.Unix(1_700_000_000, 0)

// Property 9: Now is strictly increasing whatever the wall clock does.
func TestClock_Now_strictlyIncreasing(t *testing.T) {
	tests := map[string]time.Duration{
		"frozen":    0,
		"backwards": -time.Millisecond,
		"forwards":  time.Nanosecond,
	}
	for name, step := range tests {
		t.Run(name, func(t *testing.T) {
			w := &stepWall{now: epoch, step: step}
			c := conflict.NewClock(w.read, 500*time.Millisecond)
			prev := c.Now()
			for range 1000 {
				got := c.Now()
				if !prev.Less(got) {
					t.Fatalf("Now() = %v after %v", got, prev)
				}
				prev = got
			}
		})
	}
}

// Now stays strictly increasing when the logical counter is full: a peer's
// timestamp may carry the largest logical value an encoding allows.
func TestClock_Now_logicalCounterFull(t *testing.T) {
	w := &stepWall{now: epoch}
	c := conflict.NewClock(w.read, 500*time.Millisecond)
	peer := conflict.Timestamp{Wall: epoch.UnixNano(), Logical: math.MaxUint32}
	if err := c.Update(peer); err != nil {
		t.Fatal(err)
	}
	if got := c.Now(); !peer.Less(got) {
		t.Fatalf("Now() = %v, not above %v", got, peer)
	}
}

func TestClock_Now_followsWall(t *testing.T) {
	w := &stepWall{now: epoch, step: time.Second}
	c := conflict.NewClock(w.read, 500*time.Millisecond)
	for i := range 3 {
		want := conflict.Timestamp{Wall: epoch.Add(time.Duration(i) * time.Second).UnixNano()}
		if got := c.Now(); got != want {
			t.Fatalf("Now() = %v, want %v", got, want)
		}
	}
	if c.MaxOffset() != 500*time.Millisecond {
		t.Fatalf("MaxOffset() = %v", c.MaxOffset())
	}
}

func TestClock_Now_concurrent(t *testing.T) {
	w := &stepWall{now: epoch}
	c := conflict.NewClock(w.read, time.Second)
	const n, per = 8, 200
	out := make([][]conflict.Timestamp, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			for range per {
				out[g] = append(out[g], c.Now())
			}
		})
	}
	wg.Wait()
	seen := map[conflict.Timestamp]bool{}
	for _, ts := range out {
		for i, x := range ts {
			if seen[x] {
				t.Fatalf("timestamp %v returned twice", x)
			}
			seen[x] = true
			if i > 0 && !ts[i-1].Less(x) {
				t.Fatalf("one goroutine read %v after %v", x, ts[i-1])
			}
		}
	}
}

func TestNewClock_nilWallIsTimeNow(t *testing.T) {
	c := conflict.NewClock(nil, time.Second)
	before := time.Now()
	got := c.Now().Time()
	if got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Fatalf("Now() = %v, far from time.Now() %v", got, before)
	}
}

// Property 9: Update refuses a timestamp too far ahead and changes nothing.
func TestClock_Update(t *testing.T) {
	const maxOffset = 500 * time.Millisecond
	wall := epoch.UnixNano()
	tests := map[string]struct {
		ts      conflict.Timestamp
		wantErr bool
		// after is the first Now() reading after Update, the wall clock
		// frozen at epoch.
		after conflict.Timestamp
	}{
		"past": {
			ts:    conflict.Timestamp{Wall: wall - int64(time.Second), Logical: 7},
			after: conflict.Timestamp{Wall: wall, Logical: 1},
		},
		"aheadWithinOffset": {
			ts:    conflict.Timestamp{Wall: wall + int64(100*time.Millisecond), Logical: 3},
			after: conflict.Timestamp{Wall: wall + int64(100*time.Millisecond), Logical: 4},
		},
		"exactlyAtOffset": {
			ts:    conflict.Timestamp{Wall: wall + int64(maxOffset), Logical: 9},
			after: conflict.Timestamp{Wall: wall + int64(maxOffset), Logical: 10},
		},
		"beyondOffset": {
			ts:      conflict.Timestamp{Wall: wall + int64(maxOffset) + 1},
			wantErr: true,
			after:   conflict.Timestamp{Wall: wall, Logical: 1},
		},
		"farPast": {
			ts:    conflict.Timestamp{Wall: math.MinInt64},
			after: conflict.Timestamp{Wall: wall, Logical: 1},
		},
		"farBeyondOffset": {
			ts:      conflict.Timestamp{Wall: math.MaxInt64},
			wantErr: true,
			after:   conflict.Timestamp{Wall: wall, Logical: 1},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := &stepWall{now: epoch}
			c := conflict.NewClock(w.read, maxOffset)
			if first := c.Now(); first != (conflict.Timestamp{Wall: wall}) {
				t.Fatalf("first Now() = %v", first)
			}
			err := c.Update(tc.ts)
			if tc.wantErr != (err != nil) {
				t.Fatalf("Update(%v) = %v, want error %v", tc.ts, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, conflict.ErrClockOffset) {
				t.Fatalf("Update error %v does not wrap ErrClockOffset", err)
			}
			if got := c.Now(); got != tc.after {
				t.Fatalf("Now() after Update = %v, want %v", got, tc.after)
			}
		})
	}
}

// Property 9: NowAbove(ts) > ts, and refuses what Update refuses.
func TestClock_NowAbove(t *testing.T) {
	w := &stepWall{now: epoch, step: time.Microsecond}
	c := conflict.NewClock(w.read, 500*time.Millisecond)
	for _, d := range []time.Duration{-time.Hour, 0, time.Millisecond, 300 * time.Millisecond, 499 * time.Millisecond} {
		in := conflict.Timestamp{Wall: epoch.Add(d).UnixNano(), Logical: 5}
		got, err := c.NowAbove(in)
		if err != nil {
			t.Fatalf("NowAbove(%v): %v", in, err)
		}
		if !in.Less(got) {
			t.Fatalf("NowAbove(%v) = %v", in, got)
		}
	}
	last := c.Now()
	w.set(epoch)
	got, err := c.NowAbove(conflict.Timestamp{Wall: epoch.Add(time.Hour).UnixNano()})
	if !errors.Is(err, conflict.ErrClockOffset) || !got.IsZero() {
		t.Fatalf("NowAbove an hour ahead = %v, %v; want zero, ErrClockOffset", got, err)
	}
	if next := c.Now(); next != (conflict.Timestamp{Wall: last.Wall, Logical: last.Logical + 1}) {
		t.Fatalf("a refused NowAbove moved the clock: %v after %v", next, last)
	}
}

func TestTimestamp_Compare(t *testing.T) {
	tests := map[string]struct {
		a, b conflict.Timestamp
		want int
	}{
		"wallFirst":  {a: conflict.Timestamp{Wall: 1, Logical: 9}, b: conflict.Timestamp{Wall: 2}, want: -1},
		"logical":    {a: conflict.Timestamp{Wall: 2, Logical: 1}, b: conflict.Timestamp{Wall: 2}, want: 1},
		"equal":      {a: conflict.Timestamp{Wall: 2, Logical: 1}, b: conflict.Timestamp{Wall: 2, Logical: 1}, want: 0},
		"negativeTS": {a: conflict.Timestamp{Wall: -1}, b: conflict.Timestamp{}, want: -1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.a.Compare(tc.b); got != tc.want {
				t.Fatalf("Compare = %d, want %d", got, tc.want)
			}
			if got := tc.a.Less(tc.b); got != (tc.want < 0) {
				t.Fatalf("Less = %v", got)
			}
		})
	}
	if !(conflict.Timestamp{}).IsZero() || (conflict.Timestamp{Logical: 1}).IsZero() {
		t.Fatal("IsZero")
	}
	if s := (conflict.Timestamp{Wall: 12, Logical: 3}).String(); s != "12.3" {
		t.Fatalf("String() = %q", s)
	}
}

// Property 5: a read-modify-write wins under LWW although its replica's wall
// clock is 300ms behind: A writes a, then B writes b; R, 300ms behind, reads
// b (not a) and overwrites it. The write is stamped above b, so it also wins
// over a, in every merge order. Stamped by R's wall clock alone it would lose
// to a and the replicas would not even agree.
func TestClock_readModifyWriteWinsWithLaggingWall(t *testing.T) {
	p := conflict.LWW
	const maxOffset = 500 * time.Millisecond
	now := epoch
	wallAt := func(skew time.Duration) conflict.WallClock { return func() time.Time { return now.Add(skew) } }
	ca := conflict.NewClock(wallAt(0), maxOffset)
	cb := conflict.NewClock(wallAt(0), maxOffset)
	cr := conflict.NewClock(wallAt(-300*time.Millisecond), maxOffset)

	a := &conflict.Object{}
	a.Put(p, dt(actA, 1), ca.Now(), []byte("a"), conflict.Context{})
	now = now.Add(time.Millisecond)
	b := &conflict.Object{}
	b.Put(p, dt(actB, 1), cb.Now(), []byte("b"), conflict.Context{})

	// R reads from B (the merge moves its clock), then writes.
	now = now.Add(time.Millisecond)
	if err := cr.Update(b.MaxTimestamp()); err != nil {
		t.Fatal(err)
	}
	r := conflict.Merge(p, &conflict.Object{}, b)
	read := conflict.ReadToken(r)
	at, err := cr.NowAbove(read.MaxTS)
	if err != nil {
		t.Fatal(err)
	}
	own := now.Add(-300 * time.Millisecond).UnixNano()
	if at.Wall <= own {
		t.Fatalf("the test is void: the write's wall %d is not above R's own wall clock %d", at.Wall, own)
	}
	naive := r.Clone()
	r.Put(p, dt(actC, 1), at, []byte("rmw"), read.Ctx)
	objs := []*conflict.Object{a, b, r}
	permute([]int{0, 1, 2}, 0, func(order []int) {
		if got := merged(p, objs[order[0]], objs[order[1]], objs[order[2]]); !sameStrings(got.Values(), "rmw") {
			t.Fatalf("order %v: Values() = %q, want [rmw]", order, strs(got.Values()))
		}
	})

	// Contrast: the same write stamped by R's wall clock.
	naive.Put(p, dt(actC, 1), conflict.Timestamp{Wall: own}, []byte("rmw"), read.Ctx)
	results := map[string]bool{}
	objs = []*conflict.Object{a, b, naive}
	permute([]int{0, 1, 2}, 0, func(order []int) {
		got := merged(p, objs[order[0]], objs[order[1]], objs[order[2]])
		results[string(got.Marshal())] = true
	})
	if len(results) < 2 {
		t.Fatalf("the contrast does not hold: wall-clock stamps converge too")
	}
}

func TestClock_Beyond(t *testing.T) {
	w := &stepWall{now: epoch}
	c := conflict.NewClock(w.read, 500*time.Millisecond)
	tests := map[string]struct {
		ts   conflict.Timestamp
		want bool
	}{
		"zero":              {conflict.Timestamp{}, false},
		"now":               {conflict.Timestamp{Wall: epoch.UnixNano()}, false},
		"at the max offset": {conflict.Timestamp{Wall: epoch.Add(500 * time.Millisecond).UnixNano(), Logical: 7}, false},
		"beyond":            {conflict.Timestamp{Wall: epoch.Add(500*time.Millisecond + 1).UnixNano()}, true},
		"far past":          {conflict.Timestamp{Wall: math.MinInt64}, false},
		"far future":        {conflict.Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := c.Beyond(tc.ts); got != tc.want {
				t.Fatalf("Beyond(%v) = %v, want %v", tc.ts, got, tc.want)
			}
			if err := c.Update(tc.ts); (err != nil) != tc.want {
				t.Fatalf("Update(%v) = %v; Beyond says %v", tc.ts, err, tc.want)
			}
		})
	}
}

// A reading whose logical counter is full carries into the wall part, also
// when the wall clock stands still and Now is asked again and again.
func TestClock_Now_logicalCarriesIntoWall(t *testing.T) {
	w := &stepWall{now: epoch}
	c := conflict.NewClock(w.read, 500*time.Millisecond)
	full := conflict.Timestamp{Wall: epoch.Add(100 * time.Millisecond).UnixNano(), Logical: math.MaxUint32 - 1}
	if err := c.Update(full); err != nil {
		t.Fatal(err)
	}
	prev := full
	for range 3 {
		got := c.Now()
		if !prev.Less(got) {
			t.Fatalf("Now() = %v after %v: wrapped", got, prev)
		}
		prev = got
	}
	if want := (conflict.Timestamp{Wall: full.Wall + 1, Logical: 1}); prev != want {
		t.Fatalf("Now() = %v, want %v", prev, want)
	}
}
