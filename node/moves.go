package node

import (
	"sync"
	"time"
)

// moveProgress is the progress of the ring change under way on this node:
// the partitions it fills (joining, or a normal node that gained some) or
// hands over (leaving), how many are done, the bytes moved and when this
// run of it began, for Status, kvctl members and kvctl leave --wait.
type moveProgress struct {
	mu      sync.Mutex
	sending bool
	total   int
	done    int
	bytes   int64
	start   time.Time // when this run began, zero while none is under way
	base    int       // done at start: the rate counts this run's work only
}

// moveSnapshot is a copy of the progress, with the estimated time left.
type moveSnapshot struct {
	Sending     bool
	Total, Done int
	Bytes       int64
	// ETA is the time left at the rate of this run so far; 0 when none is
	// under way or no partition was moved yet.
	ETA time.Duration
}

// set records total partitions to move, done of them, and bytes more
// moved. The first call of a run starts its clock.
func (m *moveProgress) set(sending bool, total, done int, bytes int64, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.start.IsZero() || m.sending != sending {
		m.start, m.base, m.bytes = now, done, 0
	}
	m.sending, m.total, m.done = sending, total, done
	m.bytes += bytes
}

// clear ends the run.
func (m *moveProgress) clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sending, m.total, m.done, m.bytes, m.start, m.base = false, 0, 0, 0, time.Time{}, 0
}

func (m *moveProgress) snapshot(now time.Time) moveSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := moveSnapshot{Sending: m.sending, Total: m.total, Done: m.done, Bytes: m.bytes}
	if moved := m.done - m.base; moved > 0 && m.done < m.total {
		per := now.Sub(m.start) / time.Duration(moved)
		s.ETA = per * time.Duration(m.total-m.done)
	}
	return s
}
