package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// HashSize is the size of entry hashes, Merkle nodes and the digest: a
// big-endian unsigned 128-bit integer.
const HashSize = 16

// sum128 is an unsigned 128-bit integer; sums wrap mod 2^128.
type sum128 struct{ hi, lo uint64 }

func (a sum128) add(b sum128) sum128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(a.hi, b.hi, carry)
	return sum128{hi, lo}
}

func (a sum128) sub(b sum128) sum128 {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, borrow)
	return sum128{hi, lo}
}

// put writes a big-endian into b[:16].
func (a sum128) put(b []byte) {
	binary.BigEndian.PutUint64(b, a.hi)
	binary.BigEndian.PutUint64(b[8:], a.lo)
}

func (a sum128) array() [HashSize]byte {
	var b [HashSize]byte
	a.put(b[:])
	return b
}

// readSum128 reads a big-endian 128-bit integer from b[:16].
func readSum128(b []byte) sum128 {
	return sum128{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

// EntryHash is the Merkle entry hash of key holding the object encoded as
// enc (its canonical encoding, conflict.Object.Marshal): the low 128 bits
// (last 16 bytes) of SHA-256(key ‖ enc), as LeafEntries reports it. A peer
// compares it with the hash of its own copy to see whether that copy
// already holds everything.
func EntryHash(key, enc []byte) [HashSize]byte { return entryHash(key, enc).array() }

// entryHash is EntryHash as a sum128, for the Merkle sums.
func entryHash(key, enc []byte) sum128 {
	h := sha256.New()
	h.Write(key)
	h.Write(enc)
	var sum [sha256.Size]byte
	return readSum128(h.Sum(sum[:0])[sha256.Size-HashSize:])
}
