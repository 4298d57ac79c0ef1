package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/quorumkv/quorumkv/conflict"
)

// Engine is one node's bbolt store. Create it with Open; it is safe for
// concurrent use. Close stops its committer and closes the file.
type Engine struct {
	cfg  Config
	path string
	db   *bolt.DB

	// gate is held shared while a write is handed to the committer or
	// appended to the commit log, and exclusively by Close, so no write is
	// queued after reqs is closed or appended after the log is closed.
	// Never take it shared twice in one goroutine: a waiting Close blocks
	// the second RLock.
	gate       sync.RWMutex
	closed     bool // Close has begun: no more writes from callers
	reqsClosed bool // reqs is closed: the committer is stopping
	reqs       chan *request
	done       chan struct{} // closed when commitLoop has returned

	// mu guards state and the memtables. A reader looks a key up in
	// active, then frozen, then bbolt; a flush drops frozen and moves
	// state in one step, so nothing is counted twice or missed.
	mu     sync.RWMutex
	state  counters  // bbolt's, as of the last commit
	active *memtable // durable records not yet in bbolt
	frozen *memtable // being written to bbolt (or left by a failed flush)

	// The commit log and what is staged in it.
	log     *logWriter
	logDone chan struct{} // closed when the syncer has returned
	stripes [keyStripes]sync.Mutex
	pendMu  sync.Mutex
	pending map[string]*record // newest staged, not yet durable, record per key

	flushMu   sync.Mutex
	flushKick chan struct{}
	flushStop chan struct{}
	flushDone chan struct{}

	failOnce sync.Once
	failErr  error
	failed   chan struct{} // closed when a log write or sync failed

	closeOnce sync.Once
	closeErr  error

	// afterMutation, if set by a test (export_test.go) before the first
	// write, runs after every change to bucket's key in a write
	// transaction; its error aborts the transaction.
	afterMutation func(bucket, key []byte) error
}

var _ conflict.LeaseStore = (*Engine)(nil)

// Close waits for the writes already submitted, stops the committer and
// closes the data file. Later calls return the first call's result. Reads
// and writes after Close return ErrClosed; Stats and Digest keep returning
// the last committed state.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.gate.Lock()
		e.closed = true
		e.gate.Unlock()
		var errs []error
		// Every staged record becomes durable (or fails), then reaches
		// bbolt, before the committer stops.
		e.log.close()
		<-e.logDone
		close(e.flushStop)
		<-e.flushDone
		if e.failure() == nil {
			if err := e.Flush(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := e.log.closeFile(); err != nil {
			errs = append(errs, fmt.Errorf("close commit log: %w", err))
		}
		e.gate.Lock()
		e.reqsClosed = true
		close(e.reqs)
		e.gate.Unlock()
		<-e.done
		if err := e.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close data file: %w", err))
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// fail records the first failure of the commit log (or of a partition
// drop's flush): the engine takes no
// more writes, and Failed is closed so the node stops. It returns the
// error every waiting writer gets.
func (e *Engine) fail(err error) error {
	e.failOnce.Do(func() {
		e.failErr = fmt.Errorf("%w: %w", ErrFatal, err)
		if e.cfg.Logger != nil {
			e.cfg.Logger.Error("storage failed: the node must stop; nothing acknowledged is lost", "err", err)
		}
		close(e.failed)
	})
	return e.failErr
}

// failure returns the failure recorded by fail, or nil.
func (e *Engine) failure() error {
	select {
	case <-e.failed:
		return e.failErr
	default:
		return nil
	}
}

// Failed is closed when a write to the commit log or its sync failed, or
// the flush of a partition drop did.
// Nothing is rolled back in memory: the engine refuses every later write
// with an error matching ErrFatal (Err returns it), and its owner must
// stop the node.
func (e *Engine) Failed() <-chan struct{} { return e.failed }

// Err returns the failure that closed Failed, or nil.
func (e *Engine) Err() error { return e.failure() }

// Path returns the path of the data file.
func (e *Engine) Path() string { return e.path }

// Policy returns the conflict policy the engine merges with.
func (e *Engine) Policy() conflict.Policy { return e.cfg.Policy }

// counters is the engine state kept in meta and mirrored in memory.
type counters struct {
	digest     sum128
	keys       uint64 // objects with something live
	tombstones uint64 // objects with nothing live
	hidden     uint64 // objects whose other-type part holds something live
	hints      uint64
}

func readCounters(meta *bolt.Bucket) (counters, error) {
	var c counters
	if v := meta.Get(metaDigest); v != nil {
		if len(v) != HashSize {
			return c, fmt.Errorf("digest has %d bytes", len(v))
		}
		c.digest = readSum128(v)
	}
	for _, f := range []struct {
		key []byte
		dst *uint64
	}{{metaKeys, &c.keys}, {metaTombstones, &c.tombstones}, {metaHidden, &c.hidden}, {metaHints, &c.hints}} {
		v := meta.Get(f.key)
		if v == nil {
			continue
		}
		if len(v) != 8 {
			return c, fmt.Errorf("counter %s has %d bytes", f.key, len(v))
		}
		*f.dst = binary.BigEndian.Uint64(v)
	}
	return c, nil
}

func writeCounters(meta *bolt.Bucket, c counters) error {
	digest := c.digest.array()
	if err := meta.Put(metaDigest, digest[:]); err != nil {
		return err
	}
	for _, f := range []struct {
		key []byte
		v   uint64
	}{{metaKeys, c.keys}, {metaTombstones, c.tombstones}, {metaHidden, c.hidden}, {metaHints, c.hints}} {
		if err := meta.Put(f.key, binary.BigEndian.AppendUint64(nil, f.v)); err != nil {
			return err
		}
	}
	return nil
}

// Stats describes what the engine holds, as of the last commit.
type Stats struct {
	// Keys counts objects with a live sibling or member.
	Keys uint64
	// Tombstones counts objects with nothing live.
	Tombstones uint64
	// HiddenParts counts objects whose part of the other type than the key
	// reads as still holds something live (conflict.Object.HiddenPart):
	// DESIGN.md's metric of what stays stored hidden.
	HiddenParts uint64
	// HintsPending counts stored hints, for every target.
	HintsPending uint64
	// StorageBytes is the size of the data file; 0 if it cannot be read.
	StorageBytes int64
}

// Stats returns the counters of every durable write. It does not block on
// the committer.
func (e *Engine) Stats() Stats {
	c := e.counters()
	s := Stats{Keys: c.keys, Tombstones: c.tombstones, HiddenParts: c.hidden, HintsPending: c.hints}
	if fi, err := os.Stat(e.path); err == nil {
		s.StorageBytes = fi.Size()
	}
	return s
}

// Digest returns the node digest of every durable write: the sum mod 2^128
// of the entry hashes of every stored object, tombstones included, as a
// big-endian 128-bit integer. The entry hash of an object is the last 16
// bytes of SHA-256(key ‖ Object.Marshal()). Replicas holding the same
// objects have equal digests.
func (e *Engine) Digest() [HashSize]byte {
	c := e.counters()
	return c.digest.array()
}

// counters returns the counters of every durable write: bbolt's and the
// memtables'.
func (e *Engine) counters() counters {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c := e.state.plus(e.active.delta)
	if e.frozen != nil {
		c = c.plus(e.frozen.delta)
	}
	return c
}

// view runs fn in a read-only transaction.
func (e *Engine) view(fn func(tx *bolt.Tx) error) error {
	err := e.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
