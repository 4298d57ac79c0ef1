package storage

import (
	"encoding/binary"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
)

// record is one change of one key on its way through the commit log: the
// object as it will be stored (or its removal), with what it replaces, so
// that the counters, the digest and the Merkle leaf can be moved by
// difference when it becomes durable, without reading anything back.
type record struct {
	kind byte
	sk   []byte
	enc  []byte           // recordPut: the object's encoding
	obj  *conflict.Object // recordPut, while staging only: the object

	hash         sum128 // entry hash of enc; zero for a removal
	live, hidden bool

	prevExists         bool
	prevHash           sum128
	prevLive, prevHide bool

	start, end uint64 // log positions, set by logWriter.append
	group      *syncGroup
}

// memEntry is the durable state of one key not yet in bbolt.
type memEntry struct {
	enc          []byte // nil: removed
	hash         sum128
	live, hidden bool
}

// memtable holds durable records not yet written to bbolt: the newest
// state of each key they touched, and what they changed in the counters,
// the digest and the Merkle leaves, to be added to bbolt's in the
// transaction that takes them in.
type memtable struct {
	entries map[string]memEntry
	delta   counters             // added to bbolt's counters, modulo 2^64 (and 2^128)
	leaves  map[uint32]sum128    // partition<<8 | leaf -> added to the leaf
	drops   []keyspace.Partition // partitions dropped, after entries
	end     uint64               // log position past the last record applied
	bytes   int
}

func newMemtable(end uint64) *memtable {
	return &memtable{entries: make(map[string]memEntry), leaves: make(map[uint32]sum128), end: end}
}

// empty reports whether m holds nothing for bbolt.
func (m *memtable) empty() bool { return len(m.entries) == 0 && len(m.drops) == 0 }

// apply takes in one durable record.
func (m *memtable) apply(r *record) {
	if r.kind == recordDrop {
		// DropPartition holds every key's lock from the record until the
		// flush that takes it (a failed one stops the engine), and replay
		// flushes at once, so nothing of the partition follows it here.
		m.drops = append(m.drops, keyspace.Partition(binary.BigEndian.Uint16(r.sk)))
		m.end = r.end
		return
	}
	if r.prevExists {
		m.delta.count(r.prevLive, r.prevHide, ^uint64(0))
	}
	if r.kind == recordPut {
		m.delta.count(r.live, r.hidden, 1)
		m.entries[string(r.sk)] = memEntry{enc: r.enc, hash: r.hash, live: r.live, hidden: r.hidden}
	} else {
		m.entries[string(r.sk)] = memEntry{}
	}
	d := r.hash.sub(r.prevHash)
	m.delta.digest = m.delta.digest.add(d)
	leaf := uint32(binary.BigEndian.Uint16(r.sk))<<MerkleLeafBits | uint32(leafOfHash(hashOf(r.sk)))
	m.leaves[leaf] = m.leaves[leaf].add(d)
	m.bytes += len(r.sk) + len(r.enc) + 64
	m.end = r.end
}

// count adds one (delta 1) or removes one (delta ^0) object to the
// counters.
func (c *counters) count(live, hidden bool, delta uint64) {
	if live {
		c.keys += delta
	} else {
		c.tombstones += delta
	}
	if hidden {
		c.hidden += delta
	}
}

// plus returns c with d's differences added.
func (c counters) plus(d counters) counters {
	c.digest = c.digest.add(d.digest)
	c.keys += d.keys
	c.tombstones += d.tombstones
	c.hidden += d.hidden
	c.hints += d.hints
	return c
}
