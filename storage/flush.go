package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
)

const (
	// DefaultFlushInterval is how long durable records may wait in memory
	// before they are written to bbolt.
	DefaultFlushInterval = 4 * time.Second
	// DefaultFlushBytes is the memtable size that starts a flush sooner.
	DefaultFlushBytes = 16 << 20
)

var metaLogPos = []byte("sys/logpos") // log position bbolt holds everything before

// flushLoop writes the memtable to bbolt every FlushInterval, or sooner
// when it grows past FlushBytes. Started by Open, stopped by Close.
func (e *Engine) flushLoop() {
	defer close(e.flushDone)
	t := time.NewTicker(e.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-e.flushStop:
			return
		case <-t.C:
		case <-e.flushKick:
		}
		if err := e.Flush(); err != nil && e.cfg.Logger != nil {
			e.cfg.Logger.Error("write the commit log's records to the data file", "err", err)
		}
	}
}

// maybeFlush wakes the flusher when the memtable is full.
func (e *Engine) maybeFlush() {
	e.mu.RLock()
	full := e.active.bytes >= e.cfg.FlushBytes
	e.mu.RUnlock()
	if full {
		select {
		case e.flushKick <- struct{}{}:
		default:
		}
	}
}

// Flush writes every durable record not yet in bbolt to bbolt, in one
// transaction that also moves the Merkle leaves, the counters and the
// digest and records the log position it covers, then deletes the log
// segments bbolt now holds. Reads of whole partitions (Scan, the Merkle
// trees, LeafEntries, Snapshot) call it first, so they see every durable
// record. It is safe for concurrent use.
func (e *Engine) Flush() error {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	// A memtable left frozen by a failed flush goes first, then the
	// active one, so a flush returns with everything durable before it
	// in bbolt.
	for {
		leftover, err := e.flushOnce()
		if err != nil || !leftover {
			return err
		}
	}
}

// flushOnce writes the frozen memtable, or freezes and writes the active
// one. It reports whether it wrote a frozen one left before it was called.
func (e *Engine) flushOnce() (leftover bool, err error) {
	e.mu.Lock()
	leftover = e.frozen != nil
	if !leftover {
		if e.active.empty() {
			e.mu.Unlock()
			return false, nil
		}
		e.frozen, e.active = e.active, newMemtable(e.active.end)
	}
	m := e.frozen
	e.mu.Unlock()
	err = e.submitWith(func(st *txState) (bool, error) { return true, st.takeMemtable(m) },
		func(c counters) {
			// Under e.mu with the counters: readers never count m twice.
			e.state = c
			e.frozen = nil
		})
	if err != nil {
		return false, fmt.Errorf("flush to the data file: %w", err)
	}
	if e.cfg.OnFlush != nil {
		e.cfg.OnFlush(len(m.entries))
	}
	if e.log == nil { // replaying on open: openLog removes the segments
		return leftover, nil
	}
	return leftover, e.log.removeBefore(m.end)
}

// flushIfDirty flushes when durable records wait in memory.
func (e *Engine) flushIfDirty() error {
	e.mu.RLock()
	dirty := !e.active.empty() || e.frozen != nil
	e.mu.RUnlock()
	if !dirty {
		return nil
	}
	return e.Flush()
}

// takeMemtable writes m's entries, Merkle leaves, counters and log
// position in the transaction.
func (st *txState) takeMemtable(m *memtable) error {
	keys := make([]string, 0, len(m.entries))
	for k := range m.entries {
		keys = append(keys, k)
	}
	slices.Sort(keys) // bbolt writes sorted keys fastest
	for _, k := range keys {
		en := m.entries[k]
		var err error
		if en.enc == nil {
			err = st.del(st.objects, []byte(k))
		} else {
			err = st.put(st.objects, []byte(k), en.enc)
		}
		if err != nil {
			return fmt.Errorf("write key %q: %w", userKey([]byte(k)), err)
		}
	}
	for leaf, d := range m.leaves {
		if err := st.addToLeaf(keyspace.Partition(leaf>>MerkleLeafBits), int(leaf&(MerkleLeaves-1)), d); err != nil {
			return err
		}
	}
	st.counters = st.counters.plus(m.delta)
	for _, p := range m.drops {
		if err := st.dropPartition(p); err != nil {
			return err
		}
	}
	return st.put(st.meta, metaLogPos, binary.BigEndian.AppendUint64(nil, m.end))
}

// dropPartition deletes every object of p, its Merkle tree, and their
// share of the counters and the digest.
func (st *txState) dropPartition(p keyspace.Partition) error {
	prefix := partitionPrefix(p)
	var keys [][]byte
	c := st.objects.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) <= keyPrefixBytes {
			return fmt.Errorf("%w: storage key %x too short", ErrCorrupt, k)
		}
		obj, err := conflict.DecodeObject(v)
		if err != nil {
			return fmt.Errorf("%w: object of key %q: %w", ErrCorrupt, userKey(k), err)
		}
		st.counters.count(obj.Live(), obj.HiddenPart(), ^uint64(0))
		st.counters.digest = st.counters.digest.sub(entryHash(userKey(k), v))
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := st.del(st.objects, k); err != nil {
			return fmt.Errorf("drop partition %d: %w", p, err)
		}
	}
	for ch := range MerkleFanout {
		if err := st.del(st.merkle, merkleKey(uint16(p), ch)); err != nil {
			return fmt.Errorf("drop the merkle tree of partition %d: %w", p, err)
		}
	}
	delete(st.pages, uint16(p))
	return nil
}

// DropPartition deletes every object of partition p, with its Merkle tree
// and its share of the counters and the digest, once durable: a record in
// the commit log, so a replay after a crash drops it again. Writes of every
// key wait while it runs; writes of p's keys after it are kept.
func (e *Engine) DropPartition(p keyspace.Partition) error { return e.DropPartitions(p) }

// DropPartitions is DropPartition of each of ps, with one wait for the
// writes and one flush for them all.
func (e *Engine) DropPartitions(ps ...keyspace.Partition) error {
	for _, p := range ps {
		if err := checkPartition(p); err != nil {
			return err
		}
	}
	if len(ps) == 0 {
		return nil
	}
	e.gate.RLock()
	if e.closed {
		e.gate.RUnlock()
		return ErrClosed
	}
	if err := e.failure(); err != nil {
		e.gate.RUnlock()
		return err
	}
	for i := range e.stripes {
		e.stripes[i].Lock()
	}
	defer func() {
		for i := range e.stripes {
			e.stripes[i].Unlock()
		}
	}()
	gs := make([]*syncGroup, 0, len(ps))
	for _, p := range ps {
		gs = append(gs, e.log.append(&record{kind: recordDrop, sk: partitionPrefix(p)}))
	}
	// The gate only keeps appends from following log.close. Flush takes
	// it shared again (submitWith): holding it here would deadlock with a
	// Close waiting for it. Close flushes the drop itself if it gets in
	// first.
	e.gate.RUnlock()
	for _, g := range gs {
		if err := g.wait(); err != nil {
			return err
		}
	}
	err := e.Flush()
	if err == nil {
		return nil
	}
	e.mu.RLock()
	inMemory := len(e.active.drops) > 0 || e.frozen != nil && len(e.frozen.drops) > 0
	e.mu.RUnlock()
	if !inMemory {
		return err // the drop is in bbolt: a later step failed (segment removal)
	}
	// The drop is durable but not in bbolt: its memtable still holds the
	// partition's old entries, and a lookup would go on to bbolt's. A
	// later write of one of its keys would build on the dropped object
	// (the counters then subtract it twice), or land after the drop in
	// the same memtable and be dropped with it when flushed. Stop, as for
	// a failed log write; Open replays the drop right.
	return e.fail(fmt.Errorf("flush a partition drop: %w", err))
}

// replayDrop applies a drop read back from the log and flushes at once, so
// the records of the partition that follow it are not dropped with it.
func (e *Engine) replayDrop(lr logRecord) error {
	e.mu.Lock()
	e.active.apply(&record{kind: recordDrop, sk: lr.sk, end: lr.end})
	e.mu.Unlock()
	return e.Flush()
}

// readLogPos returns the log position stored in meta (0 when absent).
func readLogPos(v []byte) (uint64, error) {
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("log position has %d bytes", len(v))
}
