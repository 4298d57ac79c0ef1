package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/quorumkv/quorumkv/conflict"
)

// openLog brings bbolt up to date with the commit log on open: it replays
// every record past logPos (the position bbolt holds everything before)
// into the memtable, flushes it to bbolt, and deletes the segments, so
// the log starts empty at the position it returns. A bad record in the
// newest segment is a torn tail: the segment is cut there and the bytes
// dropped are logged. A bad record in an older segment is damage the log
// cannot explain: Open fails naming the file and offset.
func (e *Engine) openLog(logPos uint64) (next uint64, err error) {
	dir := WALDir(e.cfg.Dir)
	segs, err := listSegments(dir)
	if err != nil {
		return 0, dirError(dir, "cannot be read", err)
	}
	next = logPos
	replayed := 0
	// The segments replayed must cover the log from logPos on without a
	// gap: the first starts at or before it, each next one where the one
	// before ends. A gap is acknowledged records lost (a segment emptied,
	// cut short at a record boundary, or missing).
	expect, first := logPos, true
	for i, start := range segs {
		path := filepath.Join(dir, segmentName(start))
		if i+1 < len(segs) && segs[i+1] <= logPos {
			continue // bbolt holds all of it
		}
		if first && start > expect || !first && start != expect {
			return 0, &openError{
				msg: fmt.Sprintf("commit log segment %q starts at log position %d, but the log before it ends at %d: records are missing; refusing to start",
					path, start, expect),
				sentinel: ErrCorrupt,
			}
		}
		first = false
		good, _, err := readSegment(path, start, func(r logRecord) error {
			if r.end <= logPos {
				return nil
			}
			replayed++
			return e.replayRecord(r)
		})
		var bad bool
		switch {
		case errors.Is(err, errBadRecord):
			bad = true
		case err != nil:
			return 0, &openError{
				msg:      fmt.Sprintf("commit log segment %q cannot be replayed: %v; refusing to start", path, err),
				sentinel: ErrCorrupt, cause: err,
			}
		}
		if bad && i < len(segs)-1 {
			return 0, &openError{
				msg:      fmt.Sprintf("commit log segment %q is corrupt at offset %d (%v), and it is not the newest; refusing to start", path, good, err),
				sentinel: ErrCorrupt, cause: err,
			}
		}
		if bad {
			dropped, terr := truncateSegment(path, good)
			if terr != nil {
				return 0, fmt.Errorf("%w: cut the torn tail of %q: %w", ErrDataDir, path, terr)
			}
			if e.cfg.Logger != nil {
				e.cfg.Logger.Warn("commit log: dropped a torn tail (writes never acknowledged)",
					"file", path, "offset", good, "bytes_dropped", dropped, "reason", err)
			}
		}
		next = max(next, start+uint64(good))
		expect = start + uint64(good)
	}
	if replayed > 0 {
		if err := e.Flush(); err != nil {
			return 0, err
		}
		if e.cfg.Logger != nil {
			e.cfg.Logger.Info("commit log replayed", "records", replayed, "position", next)
		}
	}
	for _, start := range segs {
		if err := os.Remove(filepath.Join(dir, segmentName(start))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, dirError(dir, "cannot be cleaned", err)
		}
	}
	return next, nil
}

// makeWALDir creates dir's log directory if it is missing and reports
// whether it did (Open then syncs dir).
func makeWALDir(dir string) (created bool, err error) {
	wal := WALDir(dir)
	switch fi, err := os.Stat(wal); {
	case err == nil && fi.IsDir():
		return false, nil
	case err == nil:
		return false, dirError(wal, "is not a directory", nil)
	case !errors.Is(err, fs.ErrNotExist):
		return false, dirError(wal, "cannot be read", err)
	}
	if err := os.Mkdir(wal, 0o750); err != nil {
		return false, dirError(wal, "cannot be created", err)
	}
	return true, nil
}

// replayRecord applies one record read back from the log to the memtable
// as durable, measured against the key's durable state.
func (e *Engine) replayRecord(lr logRecord) error {
	if lr.kind == recordDrop {
		return e.replayDrop(lr)
	}
	r := &record{kind: lr.kind, sk: lr.sk, enc: lr.enc, end: lr.end}
	if r.kind == recordPut {
		obj, err := conflict.DecodeObject(r.enc)
		if err != nil {
			return fmt.Errorf("%w: object of key %q in the commit log: %w", ErrCorrupt, userKey(r.sk), err)
		}
		r.hash = entryHash(userKey(r.sk), r.enc)
		r.live, r.hidden = obj.Live(), obj.HiddenPart()
	}
	en, _, ok, err := e.durable(r.sk)
	if err != nil {
		return err
	}
	if ok {
		r.prevExists, r.prevHash, r.prevLive, r.prevHide = true, en.hash, en.live, en.hidden
	}
	e.mu.Lock()
	e.active.apply(r)
	e.mu.Unlock()
	return nil
}
