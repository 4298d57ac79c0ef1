package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/quorumkv/quorumkv/keyspace"
)

// The shape of a partition's Merkle tree: level 0 is the root, level 1
// has MerkleFanout nodes each summing MerkleFanout leaves, level 2 holds
// the MerkleLeaves leaves. Every node is the sum mod 2^128 of the entry
// hashes below it, so a node's value does not depend on the order of
// writes.
const (
	MerkleLevels = 3
	MerkleFanout = 16
	MerkleLeaves = MerkleFanout * MerkleFanout

	// MerkleLeafBits is log2(MerkleLeaves): a key's leaf is the
	// MerkleLeafBits bits of its hash just below the partition's
	// keyspace.PartitionBits (see LeafOf).
	MerkleLeafBits = 8

	// leafShift selects the leaf bits of a key hash.
	leafShift = 64 - keyspace.PartitionBits - MerkleLeafBits

	merklePageSize = MerkleLeaves * HashSize
	// chunkSize is the stored unit of a page: the leaves of one level-1
	// node.
	chunkSize = MerkleFanout * HashSize
	// merkleKeySize is partition (2 bytes) ‖ level-1 node (1 byte).
	merkleKeySize = partitionBytes + 1
)

// merklePage holds a partition's 256 leaves (4096 bytes), each a
// big-endian 128-bit sum; inner nodes are derived by summing. In the
// merkle bucket a page is stored as 16 chunks of 256 bytes, chunk c (the
// leaves of level-1 node c) under merkleKey(p, c), so a write rewrites one
// small value that shares a bbolt page with others instead of a 4 KiB
// value that needs two pages of its own: that halves what a group commit
// writes for the trees. A missing chunk is all zero.
type merklePage [merklePageSize]byte

func (pg *merklePage) leaf(i int) sum128 { return readSum128(pg[i*HashSize:]) }

// node returns node i of level.
func (pg *merklePage) node(level, i int) sum128 {
	span := MerkleLeaves / levelWidth(level)
	var s sum128
	for j := i * span; j < (i+1)*span; j++ {
		s = s.add(pg.leaf(j))
	}
	return s
}

// levelWidth returns the number of nodes on level.
func levelWidth(level int) int {
	w := 1
	for range level {
		w *= MerkleFanout
	}
	return w
}

// merkleKey returns the key of chunk c of partition p's page.
func merkleKey(p uint16, c int) []byte {
	return append(binary.BigEndian.AppendUint16(make([]byte, 0, merkleKeySize), p), byte(c))
}

// LeafOf returns the Merkle leaf of key in its partition's tree: the
// MerkleLeafBits bits of keyspace.Hash(key) just below the partition's.
// A peer checks with it that LeafEntries answered only the leaves asked.
func LeafOf(key []byte) int { return leafOfHash(keyspace.Hash(key)) }

// leafOfHash returns the leaf of a key hash in its partition's tree.
func leafOfHash(h uint64) int { return int(h>>leafShift) & (MerkleLeaves - 1) }

// checkChunk reports a merkle bucket entry that is not a chunk.
func checkChunk(k, v []byte) error {
	if len(k) != merkleKeySize || int(binary.BigEndian.Uint16(k)) >= keyspace.Q ||
		int(k[partitionBytes]) >= MerkleFanout || len(v) != chunkSize {
		return fmt.Errorf("merkle entry %x holds %d bytes", k, len(v))
	}
	return nil
}

// readPage returns partition p's page.
func readPage(merkle *bolt.Bucket, p keyspace.Partition) (*merklePage, error) {
	pg := new(merklePage)
	prefix := partitionPrefix(p)
	c := merkle.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := checkChunk(k, v); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		copy(pg[int(k[partitionBytes])*chunkSize:], v)
	}
	return pg, nil
}

// dirtyPage is a page a write transaction changed.
type dirtyPage struct {
	page  *merklePage
	dirty uint16 // bit c: chunk c changed
}

// write stores the changed chunks of d as partition p's. bbolt keeps the
// values until commit: d must not change meanwhile.
func (d *dirtyPage) write(merkle *bolt.Bucket, p uint16) error {
	for c := range MerkleFanout {
		if d.dirty&(1<<c) == 0 {
			continue
		}
		if err := merkle.Put(merkleKey(p, c), d.page[c*chunkSize:(c+1)*chunkSize]); err != nil {
			return err
		}
	}
	return nil
}

// addToLeaf adds d to leaf of partition p's tree.
func (st *txState) addToLeaf(p keyspace.Partition, leaf int, d sum128) error {
	dp, ok := st.pages[uint16(p)]
	if !ok {
		pg, err := readPage(st.merkle, p)
		if err != nil {
			return err
		}
		if st.pages == nil {
			st.pages = make(map[uint16]*dirtyPage)
		}
		dp = &dirtyPage{page: pg}
		st.pages[uint16(p)] = dp
	}
	dp.page.leaf(leaf).add(d).put(dp.page[leaf*HashSize:])
	dp.dirty |= 1 << (leaf / MerkleFanout)
	return nil
}

func checkPartition(p keyspace.Partition) error {
	if int(p) >= keyspace.Q {
		return fmt.Errorf("%w: partition %d, there are %d", ErrInvalidArgument, p, keyspace.Q)
	}
	return nil
}

// MerkleRoots returns the root of each partition's tree, in the order of
// parts, read in one transaction. The caller owns the result.
func (e *Engine) MerkleRoots(parts []keyspace.Partition) ([][HashSize]byte, error) {
	for _, p := range parts {
		if err := checkPartition(p); err != nil {
			return nil, err
		}
	}
	if err := e.flushIfDirty(); err != nil {
		return nil, err
	}
	out := make([][HashSize]byte, len(parts))
	err := e.view(func(tx *bolt.Tx) error {
		merkle := tx.Bucket(bucketMerkle)
		for i, p := range parts {
			pg, err := readPage(merkle, p)
			if err != nil {
				return err
			}
			out[i] = pg.node(0, 0).array()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MerkleNodes returns the nodes at indexes of one level of partition p's
// tree (level 0: the root, index 0; level 1: 0..15; level 2: the leaves,
// 0..255), in the order of indexes; nil indexes means the whole level. The
// caller owns the result.
func (e *Engine) MerkleNodes(p keyspace.Partition, level int, indexes []int) ([][HashSize]byte, error) {
	if err := checkPartition(p); err != nil {
		return nil, err
	}
	if level < 0 || level >= MerkleLevels {
		return nil, fmt.Errorf("%w: merkle level %d, levels are 0 to %d", ErrInvalidArgument, level, MerkleLevels-1)
	}
	width := levelWidth(level)
	if indexes == nil {
		indexes = make([]int, width)
		for i := range indexes {
			indexes[i] = i
		}
	}
	for _, i := range indexes {
		if i < 0 || i >= width {
			return nil, fmt.Errorf("%w: merkle node %d of level %d, which has %d", ErrInvalidArgument, i, level, width)
		}
	}
	if err := e.flushIfDirty(); err != nil {
		return nil, err
	}
	var pg *merklePage
	err := e.view(func(tx *bolt.Tx) error {
		var err error
		pg, err = readPage(tx.Bucket(bucketMerkle), p)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([][HashSize]byte, len(indexes))
	for j, i := range indexes {
		out[j] = pg.node(level, i).array()
	}
	return out, nil
}

// KeyHash is one entry of a Merkle leaf: a key and the entry hash of its
// object.
type KeyHash struct {
	Key  []byte
	Hash [HashSize]byte
}

// LeafEntries returns the entries under leaf (0..255) of partition p's
// tree, in storage key order. The caller owns the result.
func (e *Engine) LeafEntries(p keyspace.Partition, leaf int) ([]KeyHash, error) {
	if err := checkPartition(p); err != nil {
		return nil, err
	}
	if leaf < 0 || leaf >= MerkleLeaves {
		return nil, fmt.Errorf("%w: merkle leaf %d, leaves are 0 to %d", ErrInvalidArgument, leaf, MerkleLeaves-1)
	}
	// A leaf's keys are contiguous: their hashes share the partition's
	// bits and the leaf's.
	leafHashStart := p.Start() | uint64(leaf)<<leafShift
	start := binary.BigEndian.AppendUint64(partitionPrefix(p), leafHashStart)
	if err := e.flushIfDirty(); err != nil {
		return nil, err
	}
	var out []KeyHash
	err := e.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketObjects).Cursor()
		for k, v := c.Seek(start); k != nil; k, v = c.Next() {
			if len(k) <= keyPrefixBytes {
				return fmt.Errorf("%w: storage key %x too short", ErrCorrupt, k)
			}
			if hashOf(k)>>leafShift != leafHashStart>>leafShift {
				break
			}
			key := bytes.Clone(userKey(k))
			out = append(out, KeyHash{Key: key, Hash: entryHash(key, v).array()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
