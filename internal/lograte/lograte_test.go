package lograte

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLimiter_Allow(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	l := New(10*time.Second, clock.now)
	type step struct {
		advance        time.Duration
		key            string
		ok             bool
		wantSuppressed int
	}
	for i, s := range []step{
		{0, "n2", true, 0},                // first line of a key goes out
		{time.Second, "n2", false, 0},     // within the interval: held back
		{time.Second, "n2", false, 0},     // again
		{0, "n3", true, 0},                // keys are independent
		{8 * time.Second, "n2", true, 2},  // interval over: out, with the count
		{time.Second, "n2", false, 0},     // a new interval starts from it
		{10 * time.Second, "n2", true, 1}, // its count only
		{10 * time.Second, "n2", true, 0}, // nothing held back
	} {
		clock.advance(s.advance)
		ok, suppressed := l.Allow(s.key)
		if ok != s.ok || suppressed != s.wantSuppressed {
			t.Errorf("step %d: Allow(%q) = %v, %d; want %v, %d", i, s.key, ok, suppressed, s.ok, s.wantSuppressed)
		}
	}
	l.Reset("n2")
	if ok, _ := l.Allow("n2"); !ok {
		t.Error("after Reset: Allow refused the key's next line")
	}
}

func TestLimiter_Log_onePerPeerPerInterval(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	l := New(time.Minute, clock.now)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for range 100 { // a peer down: 100 failed requests
		l.Log(context.Background(), log, slog.LevelWarn, "unreachable n2", "cannot reach peer", "peer", "n2")
	}
	l.Log(context.Background(), log, slog.LevelDebug, "debug", "below the level: neither logged nor counted")
	clock.advance(time.Minute)
	l.Log(context.Background(), log, slog.LevelWarn, "unreachable n2", "cannot reach peer", "peer", "n2")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2:\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "suppressed") || !strings.Contains(lines[1], "suppressed=99") || !strings.Contains(lines[1], "peer=n2") {
		t.Errorf("lines:\n%s\nwant the second to name the peer and carry suppressed=99", buf.String())
	}
}
