package keyspace

import (
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// PartitionBits is log2(Q): a key's partition is the top PartitionBits bits
// of its hash. Storage lays out its Merkle trees below them.
const PartitionBits = 10

// Q is the number of partitions the key space is cut into, 1024 as
// DESIGN.md fixes it. It never changes for a cluster: storage keys, Merkle
// trees and the ring are laid out by it.
const Q = 1 << PartitionBits

// partitionShift turns a 64-bit hash into a partition: the top
// PartitionBits bits.
const partitionShift = 64 - PartitionBits

// Default limits, as DESIGN.md fixes them; a node may be started with others.
const (
	DefaultMaxKeyBytes    = 1024
	DefaultMaxValueBytes  = 1 << 20
	DefaultMaxObjectBytes = 8 << 20
)

// Partition is the index of one of the Q partitions, 0 <= p < Q.
type Partition uint16

// Hash is the 64-bit hash of a key (xxhash64). It orders keys inside a
// partition and picks the partition.
func Hash(key []byte) uint64 { return xxhash.Sum64(key) }

// PartitionOfHash returns the partition of a key whose hash is h.
func PartitionOfHash(h uint64) Partition { return Partition(h >> partitionShift) }

// PartitionOf returns the partition that holds key.
func PartitionOf(key []byte) Partition { return PartitionOfHash(Hash(key)) }

// Start returns the first hash value of partition p: partitions are
// contiguous ranges of the 64-bit hash space, in order.
func (p Partition) Start() uint64 { return uint64(p) << partitionShift }

// Sentinel errors for keys and values outside the limits. Errors returned by
// Limits wrap them, so callers match with errors.Is and show the message.
var (
	ErrEmptyKey       = errors.New("key is empty")
	ErrKeyTooLarge    = errors.New("key too large")
	ErrValueTooLarge  = errors.New("value too large")
	ErrObjectTooLarge = errors.New("object too large")
)

// Limits bounds the size of keys and values a node accepts.
type Limits struct {
	// MaxKeyBytes is the largest key accepted, in bytes; at least 1.
	MaxKeyBytes int
	// MaxValueBytes is the largest value (or set member) accepted, in bytes;
	// at least 0.
	MaxValueBytes int
	// MaxObjectBytes bounds a whole object: the bytes of all its siblings'
	// values and set members together. At least MaxValueBytes; zero means
	// no bound.
	MaxObjectBytes int
}

// DefaultLimits returns the default limits: keys of 1 to 1024 bytes,
// values of 0 to 1 MiB, objects of at most 8 MiB.
func DefaultLimits() Limits {
	return Limits{MaxKeyBytes: DefaultMaxKeyBytes, MaxValueBytes: DefaultMaxValueBytes, MaxObjectBytes: DefaultMaxObjectBytes}
}

// Validate reports whether the limits themselves are usable.
func (l Limits) Validate() error {
	if l.MaxKeyBytes < 1 {
		return fmt.Errorf("max key bytes is %d: must be at least 1", l.MaxKeyBytes)
	}
	if l.MaxValueBytes < 0 {
		return fmt.Errorf("max value bytes is %d: must be at least 0", l.MaxValueBytes)
	}
	if l.MaxObjectBytes != 0 && l.MaxObjectBytes < l.MaxValueBytes {
		return fmt.Errorf("max object bytes is %d: must be at least the max value bytes (%d)", l.MaxObjectBytes, l.MaxValueBytes)
	}
	return nil
}

// CheckKey returns nil if key is within the limits, otherwise an error that
// wraps ErrEmptyKey or ErrKeyTooLarge and names the limit.
func (l Limits) CheckKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: keys must be 1 to %d bytes", ErrEmptyKey, l.MaxKeyBytes)
	}
	if len(key) > l.MaxKeyBytes {
		return fmt.Errorf("%w: key is %d bytes, the limit is %d bytes (--max-key-bytes)",
			ErrKeyTooLarge, len(key), l.MaxKeyBytes)
	}
	return nil
}

// CheckValue returns nil if value is within the limits, otherwise an error
// that wraps ErrValueTooLarge and names the limit.
func (l Limits) CheckValue(value []byte) error {
	if len(value) > l.MaxValueBytes {
		return fmt.Errorf("%w: value is %d bytes, the limit is %d bytes (--max-value-bytes)",
			ErrValueTooLarge, len(value), l.MaxValueBytes)
	}
	return nil
}

// CheckObject returns nil if an object of size payload bytes (see
// MaxObjectBytes) is within the limits, otherwise an error that wraps
// ErrObjectTooLarge and names the limit.
func (l Limits) CheckObject(size int) error {
	if l.MaxObjectBytes > 0 && size > l.MaxObjectBytes {
		return fmt.Errorf("%w: the object would hold %d bytes of values and members, the limit is %d bytes (--max-object-bytes)",
			ErrObjectTooLarge, size, l.MaxObjectBytes)
	}
	return nil
}
