package replicationtest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// StagedStore is the replication.Store a coordinator writes through, over
// its node's engine, whose staged writes become durable only when the test
// says so: the seam of a node whose own write is slow to reach its disk,
// fails there, or is lost in a crash. Safe for concurrent use.
//
// Not held, it is the engine itself. While held (Hold), Stage builds on the
// engine's copy merged with what is already staged for the key, as the
// engine's own Stage builds on the staged record, and returns a wait that
// blocks until Release makes the staged writes durable (merged into the
// engine, in order) or Crash discards them (wait returns the error given).
// Get never sees a staged write; Merge (read repair) goes to the engine.
type StagedStore struct {
	eng    *storage.Engine
	policy conflict.Policy

	mu     sync.Mutex
	held   bool
	staged []*stagedWrite
}

var _ replication.Store = (*StagedStore)(nil)

// stagedWrite is one write staged while held; done is closed once its
// outcome, err, is known.
type stagedWrite struct {
	key  []byte
	obj  *conflict.Object
	done chan struct{}
	err  error
}

func (w *stagedWrite) wait() error {
	<-w.done
	return w.err
}

// NewStagedStore returns a store over eng, whose objects merge under
// policy, not held.
func NewStagedStore(eng *storage.Engine, policy conflict.Policy) *StagedStore {
	return &StagedStore{eng: eng, policy: policy}
}

// Hold makes the writes staged from now on wait for Release or Crash
// (on true), or become durable at once again (on false). Writes already
// staged stay staged.
func (s *StagedStore) Hold(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = on
}

// Pending returns how many staged writes wait for Release or Crash.
func (s *StagedStore) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.staged)
}

// Release makes every staged write durable, in the order staged, and
// returns the first error the engine returned.
func (s *StagedStore) Release() error {
	var first error
	for _, w := range s.take() {
		_, w.err = s.eng.Merge(w.key, w.obj)
		if w.err != nil && first == nil {
			first = w.err
		}
		close(w.done)
	}
	return first
}

// Crash discards every staged write, as a crash before its fsync would:
// each wait returns err. It returns how many were discarded.
func (s *StagedStore) Crash(err error) int {
	ws := s.take()
	for _, w := range ws {
		w.err = err
		close(w.done)
	}
	return len(ws)
}

func (s *StagedStore) take() []*stagedWrite {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.staged
	s.staged = nil
	return ws
}

// Get returns the engine's copy: never a staged write.
func (s *StagedStore) Get(key []byte) (*conflict.Object, error) { return s.eng.Get(key) }

// Merge merges obj into the engine's copy durably; a write staged for key
// is not in what it returns.
func (s *StagedStore) Merge(key []byte, obj *conflict.Object) (*conflict.Object, error) {
	return s.eng.Merge(key, obj)
}

// Stage implements replication.Store: the engine's Stage when not held.
func (s *StagedStore) Stage(key []byte, fn func(cur *conflict.Object) (*conflict.Object, error)) (*conflict.Object, func() error, error) {
	s.mu.Lock()
	if !s.held {
		s.mu.Unlock()
		return s.eng.Stage(key, fn)
	}
	defer s.mu.Unlock()
	cur, err := s.eng.Get(key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		cur = nil
	case err != nil:
		return nil, nil, err
	}
	for _, w := range s.staged {
		if !bytes.Equal(w.key, key) {
			continue
		}
		if cur == nil {
			cur = w.obj.Clone()
		} else {
			cur = conflict.Merge(s.policy, cur, w.obj)
		}
	}
	obj, err := fn(cur)
	if err != nil {
		return nil, nil, fmt.Errorf("stage %q: %w", key, err)
	}
	w := &stagedWrite{key: bytes.Clone(key), obj: obj.Clone(), done: make(chan struct{})}
	s.staged = append(s.staged, w)
	return obj, w.wait, nil
}
