package storagetest

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

// The contract: an entry hash is storage.EntryHash, sums are mod 2^128
// (computed here with big integers, independently of the engine's), and a
// key's leaf is storage.LeafOf. The layout and the entry hash are defined
// once, in storage, and pinned by its TestMerkleLayout_isTheContract.

var mod128 = new(big.Int).Lsh(big.NewInt(1), 128)

// EntryHash returns the entry hash of key holding obj.
func EntryHash(key []byte, obj *conflict.Object) *big.Int {
	h := storage.EntryHash(key, obj.Marshal())
	return new(big.Int).SetBytes(h[:])
}

// Sum returns the sum mod 2^128 of hs.
func Sum(hs ...*big.Int) *big.Int {
	s := new(big.Int)
	for _, h := range hs {
		s.Add(s, h)
	}
	return s.Mod(s, mod128)
}

// Uint128 returns the 16 big-endian bytes of x mod 2^128.
func Uint128(x *big.Int) [storage.HashSize]byte {
	var out [storage.HashSize]byte
	new(big.Int).Mod(x, mod128).FillBytes(out[:])
	return out
}

// LeafOf returns the Merkle leaf of key in its partition's tree.
func LeafOf(key []byte) int { return storage.LeafOf(key) }

// Contents is what an engine holds, read through Scan.
type Contents struct {
	Keys    [][]byte // in scan order, partition after partition
	Objects map[string]*conflict.Object
}

// ReadAll scans every partition of e.
func ReadAll(e Engine) (Contents, error) {
	c := Contents{Objects: map[string]*conflict.Object{}}
	for p := range keyspace.Q {
		err := e.Scan(keyspace.Partition(p), nil, func(key []byte, obj *conflict.Object) bool {
			c.Keys = append(c.Keys, key)
			c.Objects[string(key)] = obj
			return true
		})
		if err != nil {
			return c, fmt.Errorf("scan partition %d: %w", p, err)
		}
	}
	return c, nil
}

// Verify recomputes, from the objects e holds, the digest, every
// partition's Merkle leaves, inner nodes and root, and the key and
// tombstone counters, and reports each that differs from what e keeps.
// e must not be written to meanwhile.
func Verify(e Engine) error {
	c, err := ReadAll(e)
	if err != nil {
		return err
	}
	var errs []error
	var all []*big.Int
	leaves := make([][storage.MerkleLeaves][]*big.Int, keyspace.Q)
	var live, dead, hidden uint64
	for _, k := range c.Keys {
		obj := c.Objects[string(k)]
		h := EntryHash(k, obj)
		all = append(all, h)
		p := keyspace.PartitionOf(k)
		leaves[p][LeafOf(k)] = append(leaves[p][LeafOf(k)], h)
		if obj.Live() {
			live++
		} else {
			dead++
		}
		if obj.HiddenPart() {
			hidden++
		}
	}
	if got, want := e.Digest(), Uint128(Sum(all...)); got != want {
		errs = append(errs, fmt.Errorf("digest %x, recomputed %x", got, want))
	}
	if s := e.Stats(); s.Keys != live || s.Tombstones != dead || s.HiddenParts != hidden {
		errs = append(errs, fmt.Errorf("stats count %d keys, %d tombstones and %d hidden parts, recounted %d, %d and %d",
			s.Keys, s.Tombstones, s.HiddenParts, live, dead, hidden))
	}
	parts := make([]keyspace.Partition, keyspace.Q)
	for p := range parts {
		parts[p] = keyspace.Partition(p)
	}
	roots, err := e.MerkleRoots(parts)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for p := range parts {
		empty := true
		for _, l := range leaves[p] {
			empty = empty && len(l) == 0
		}
		if empty && roots[p] == ([storage.HashSize]byte{}) {
			continue // checked by its root; skipping its nodes keeps Verify fast
		}
		if err := verifyTree(e, keyspace.Partition(p), roots[p], &leaves[p]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func verifyTree(e Engine, p keyspace.Partition, root [storage.HashSize]byte, want *[storage.MerkleLeaves][]*big.Int) error {
	got, err := e.MerkleNodes(p, 2, nil)
	if err != nil {
		return err
	}
	mid, err := e.MerkleNodes(p, 1, nil)
	if err != nil {
		return err
	}
	top, err := e.MerkleNodes(p, 0, nil)
	if err != nil {
		return err
	}
	var leafSums, midSums []*big.Int
	for i := range storage.MerkleLeaves {
		s := Sum(want[i]...)
		leafSums = append(leafSums, s)
		if got[i] != Uint128(s) {
			return fmt.Errorf("partition %d leaf %d: %x, recomputed %x", p, i, got[i], Uint128(s))
		}
	}
	for i := range storage.MerkleFanout {
		s := Sum(leafSums[i*storage.MerkleFanout : (i+1)*storage.MerkleFanout]...)
		midSums = append(midSums, s)
		if mid[i] != Uint128(s) {
			return fmt.Errorf("partition %d level 1 node %d: %x, recomputed %x", p, i, mid[i], Uint128(s))
		}
	}
	want0 := Uint128(Sum(midSums...))
	if top[0] != want0 || root != want0 {
		return fmt.Errorf("partition %d root: %x (MerkleRoots %x), recomputed %x", p, top[0], root, want0)
	}
	return nil
}
