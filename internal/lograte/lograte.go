// Package lograte rate-limits repeated log lines: a peer that is down
// yields one line per peer per interval, carrying how many like it were
// suppressed, rather than one per request. It imports nothing of ours.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is the interval of a Limiter built with zero.
const DefaultInterval = 30 * time.Second

// Limiter lets through at most one log line per key (such as "unreachable
// n2") per interval, and counts those it holds back. The zero Limiter is
// not usable: build one with New. Safe for concurrent use.
type Limiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*window
}

// window is one key's state: when its last line went out and how many
// lines were suppressed since.
type window struct {
	last       time.Time
	suppressed int
}

// New returns a limiter letting one line per key through every interval
// (DefaultInterval when zero or negative); now reads the time (time.Now
// when nil).
func New(interval time.Duration, now func() time.Time) *Limiter {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{interval: interval, now: now, keys: map[string]*window{}}
}

// Allow reports whether a line for key may be logged now; when it may,
// suppressed is how many lines for key Allow refused since the last one it
// let through.
func (l *Limiter) Allow(key string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, seen := l.keys[key]
	if !seen {
		l.keys[key] = &window{last: now}
		return true, 0
	}
	if now.Sub(w.last) < l.interval {
		w.suppressed++
		return false, 0
	}
	suppressed = w.suppressed
	w.last, w.suppressed = now, 0
	return true, suppressed
}

// Reset forgets key, so that its next line goes out at once (for example
// once the peer is back, so that its next failure is seen).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
}

// Log logs msg with args at level through log, with ctx, when Allow(key)
// lets it, adding "suppressed" with the count of lines held back since the
// last, when there were any. A line below log's level is neither logged
// nor counted.
func (l *Limiter) Log(ctx context.Context, log *slog.Logger, level slog.Level, key, msg string, args ...any) {
	if !log.Enabled(ctx, level) {
		return
	}
	ok, suppressed := l.Allow(key)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	log.Log(ctx, level, msg, args...)
}
