package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// DefaultSegmentBytes is the size past which the log starts a new segment.
const DefaultSegmentBytes = 64 << 20

// syncGroup is the records one fdatasync of the log makes durable: the
// writers that appended them wait on done and then read err.
type syncGroup struct {
	buf  []byte
	recs []*record
	done chan struct{}
	err  error
}

// wait blocks until the group is durable or failed.
func (g *syncGroup) wait() error {
	<-g.done
	return g.err
}

// logWriter appends records to the commit log. Writers append under mu
// to the newest queued group (up to maxGroup records); one syncer
// goroutine (run, owned by the Engine) takes the oldest group, writes it,
// fdatasyncs once and hands its records to the engine. So concurrent
// writers share one fsync (group commit).
type logWriter struct {
	dir      string
	segBytes int64
	maxGroup int // records one fsync covers at most

	mu      sync.Mutex
	queue   []*syncGroup
	next    uint64 // log position after the last appended record
	closing bool
	kick    chan struct{} // one token: there is work or closing

	// Owned by the syncer (and by open before it starts).
	f        *os.File
	segStart uint64
	segSize  int64
	synced   uint64 // position up to which the log is durable

	segMu    sync.Mutex
	segments []uint64 // starts of the segments on disk, ascending

	onSyncDir func(dir string)

	// fault, if set by a test (under mu), runs before each write ("write")
	// and fdatasync ("sync") of the log; its error fails that step.
	fault func(op string) error
}

// append encodes r at the end of the log and returns the group whose
// fsync will make it durable. It sets r.start and r.end.
func (w *logWriter) append(r *record) *syncGroup {
	w.mu.Lock()
	var g *syncGroup
	if n := len(w.queue); n > 0 && len(w.queue[n-1].recs) < w.maxGroup {
		g = w.queue[n-1]
	} else {
		g = &syncGroup{done: make(chan struct{})}
		w.queue = append(w.queue, g)
	}
	before := len(g.buf)
	g.buf = appendRecord(g.buf, r.kind, r.sk, r.enc)
	r.start = w.next
	w.next += uint64(len(g.buf) - before)
	r.end = w.next
	r.group = g
	g.recs = append(g.recs, r)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return g
}

// take removes the first queued group: the next fsync covers it. It
// reports false once the writer is closing and nothing is left.
func (w *logWriter) take() (groups []*syncGroup, open bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil, !w.closing
	}
	groups = []*syncGroup{w.queue[0]}
	w.queue[0] = nil
	w.queue = w.queue[1:]
	return groups, true
}

// close makes run return once everything appended has been handled.
func (w *logWriter) close() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run is the syncer. durable is called with the records of each group
// that reached the disk, in log order, before their writers wake; failed
// with the error of a group that did not. After a failure every later
// group fails with the same error, without touching the file.
func (w *logWriter) run(durable func(recs []*record), failed func(error) error) {
	var fatal error
	for {
		groups, open := w.take()
		if !open {
			return
		}
		if len(groups) == 0 {
			<-w.kick
			continue
		}
		if fatal == nil {
			if err := w.write(groups); err != nil {
				fatal = failed(err)
			}
		}
		for _, g := range groups {
			if fatal != nil {
				g.err = fatal
			} else {
				durable(g.recs)
			}
			close(g.done)
		}
	}
}

// write writes the groups at the end of the log and fdatasyncs them,
// starting a new segment first when the current one is full.
func (w *logWriter) write(groups []*syncGroup) error {
	w.mu.Lock()
	fault := w.fault
	w.mu.Unlock()
	if fault == nil {
		fault = func(string) error { return nil }
	}
	if err := fault("write"); err != nil {
		return fmt.Errorf("append to commit log: %w", err)
	}
	n := 0
	for _, g := range groups {
		n += len(g.buf)
	}
	if w.f == nil || w.segSize > 0 && w.segSize+int64(n) > w.segBytes {
		if err := w.rotate(groups[0].recs[0].start); err != nil {
			return err
		}
	}
	for _, g := range groups {
		if _, err := w.f.Write(g.buf); err != nil {
			return fmt.Errorf("append to commit log %s: %w", w.f.Name(), err)
		}
		w.segSize += int64(len(g.buf))
	}
	if err := fault("sync"); err != nil {
		return fmt.Errorf("sync commit log %s: %w", w.f.Name(), err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("sync commit log %s: %w", w.f.Name(), err)
	}
	last := groups[len(groups)-1]
	w.synced = last.recs[len(last.recs)-1].end
	return nil
}

// rotate closes the current segment (already synced) and creates the
// next one, starting at log position start, durably (the directory entry
// is synced).
func (w *logWriter) rotate(start uint64) error {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return fmt.Errorf("close commit log segment: %w", err)
		}
		w.f = nil
	}
	path := filepath.Join(w.dir, segmentName(start))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create commit log segment: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync commit log directory: %w", err)
	}
	if w.onSyncDir != nil {
		w.onSyncDir(w.dir)
	}
	w.f, w.segStart, w.segSize = f, start, 0
	w.segMu.Lock()
	w.segments = append(w.segments, start)
	w.segMu.Unlock()
	return nil
}

// removeBefore deletes the segments every record of which ends at or
// before pos (bbolt holds them), never the one being written.
func (w *logWriter) removeBefore(pos uint64) error {
	w.segMu.Lock()
	defer w.segMu.Unlock()
	keep := 0
	for i := range w.segments {
		last := i == len(w.segments)-1
		if last || w.segments[i+1] > pos {
			break
		}
		if err := os.Remove(filepath.Join(w.dir, segmentName(w.segments[i]))); err != nil && !os.IsNotExist(err) {
			w.segments = w.segments[keep:]
			return fmt.Errorf("remove commit log segment: %w", err)
		}
		keep = i + 1
	}
	w.segments = w.segments[keep:]
	return nil
}

// closeFile closes the segment being written, once run has returned.
func (w *logWriter) closeFile() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// fdatasync flushes f's data (not its metadata unless needed to read the
// data back).
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
