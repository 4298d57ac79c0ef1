package node

import (
	"testing"
	"time"
)

// The estimated time left follows the rate of the run so far, counting
// only what this run moved (a resumed move starts with some done), and is
// unknown until a partition moved.
func TestMoveProgress_eta(t *testing.T) {
	var m moveProgress
	t0 := time.Unix(1000, 0)
	m.set(true, 100, 20, 0, t0) // resumed: 20 were done before
	if s := m.snapshot(t0.Add(time.Minute)); s.ETA != 0 || s.Done != 20 || !s.Sending {
		t.Fatalf("before any move of this run: %+v", s)
	}
	m.set(true, 100, 30, 4096, t0.Add(10*time.Second)) // 10 in 10s
	m.set(true, 100, 40, 4096, t0.Add(20*time.Second)) // 20 in 20s
	s := m.snapshot(t0.Add(20 * time.Second))
	if s.ETA != 60*time.Second || s.Bytes != 8192 || s.Total != 100 || s.Done != 40 {
		t.Fatalf("after 20 of 80 in 20s: %+v, want 60s left and 8192 bytes", s)
	}
	m.set(true, 100, 100, 0, t0.Add(80*time.Second))
	if s := m.snapshot(t0.Add(80 * time.Second)); s.ETA != 0 {
		t.Fatalf("done: %+v", s)
	}
	m.clear()
	if s := m.snapshot(t0); s != (moveSnapshot{}) {
		t.Fatalf("after clear: %+v", s)
	}
}
