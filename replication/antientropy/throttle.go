package antientropy

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// throttle bounds the keys and bytes per second of every anti-entropy
// round of a node together: token buckets refilled at the configured rates,
// holding a tenth of a second's worth. A caller asks before it transfers
// (or, for responses whose size it learns afterwards, right after), so a
// round that exceeded the budget waits before its next transfer.
type throttle struct {
	keys, bytes *rate.Limiter // nil: no bound
	now         func() time.Time
	// mu orders reservations by the time they are made at: a limiter
	// given an earlier time than its last one moves its last time back,
	// and then credits the same interval twice.
	mu sync.Mutex
	// sleepUntil waits until the clock reaches t or ctx is done; tests
	// replace it with a fake clock's.
	sleepUntil func(ctx context.Context, t time.Time) error
}

func newThrottle(keysPerSec, bytesPerSec int, now func() time.Time) *throttle {
	t := &throttle{keys: newBucket(keysPerSec), bytes: newBucket(bytesPerSec), now: now}
	t.sleepUntil = func(ctx context.Context, at time.Time) error {
		d := at.Sub(t.now())
		if d <= 0 {
			return nil
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		}
	}
	return t
}

// newBucket returns a limiter of perSec tokens a second, nil when perSec
// is negative (no bound).
func newBucket(perSec int) *rate.Limiter {
	if perSec < 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSec), max(1, perSec/10))
}

// keyBatch is the most keys one request should carry so that it does not
// take more than a bucket's worth at once.
func (t *throttle) keyBatch(limit int) int {
	if t.keys == nil {
		return limit
	}
	return max(1, min(limit, t.keys.Burst()))
}

// wait takes keys and bytes from the buckets, waiting until they are
// available or ctx is done (then it gives them back).
func (t *throttle) wait(ctx context.Context, keys, bytes int) error {
	t.mu.Lock()
	now := t.now()
	until := now
	var taken []*rate.Reservation
	take := func(l *rate.Limiter, n int) {
		if l == nil {
			return
		}
		for n > 0 { // a request above the burst is taken in bursts
			c := min(n, l.Burst())
			r := l.ReserveN(now, c)
			taken = append(taken, r)
			if at := now.Add(r.DelayFrom(now)); at.After(until) {
				until = at
			}
			n -= c
		}
	}
	take(t.keys, keys)
	take(t.bytes, bytes)
	t.mu.Unlock()
	if !until.After(now) {
		return nil
	}
	if err := t.sleepUntil(ctx, until); err != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		at := t.now()
		for _, r := range taken {
			r.CancelAt(at)
		}
		return err
	}
	return nil
}
