package storage

import (
	"encoding/binary"
	"path/filepath"

	"github.com/quorumkv/quorumkv/keyspace"
)

// DataFileName is the name of the bbolt file inside the data directory.
const DataFileName = "data.db"

// DataFile returns the path of the data file in data directory dir.
func DataFile(dir string) string { return filepath.Join(dir, DataFileName) }

// formatVersion is stored in meta on creation. Version 1 had no commit
// log; version 2 adds it (Dir/wal and sys/logpos). Open upgrades an older
// version in place and refuses a newer one.
const formatVersion = 2

// The buckets of the data file.
var (
	bucketObjects = []byte("objects") // storage key -> Object.Marshal()
	bucketMerkle  = []byte("merkle")  // partition (2 bytes BE) ‖ level-1 node (1 byte) -> its 16 leaves of 16 bytes
	bucketMeta    = []byte("meta")    // sys/... and user/... -> value
	bucketHints   = []byte("hints")   // hint key -> created (8 bytes BE) ‖ Object.Marshal()
	bucketMembers = []byte("members") // memberTableKey -> member table
)

var allBuckets = [][]byte{bucketObjects, bucketMerkle, bucketMeta, bucketHints, bucketMembers}

// Keys in the meta bucket. Engine-owned keys start with "sys/", names given
// to Meta and PutMeta are stored under "user/" so the two never collide.
var (
	metaFormat     = []byte("sys/format")
	metaDigest     = []byte("sys/digest")
	metaKeys       = []byte("sys/keys")
	metaTombstones = []byte("sys/tombstones")
	metaHidden     = []byte("sys/hidden")
	metaHints      = []byte("sys/hints")
	metaLease      = []byte("sys/lease")
	userMetaPrefix = "user/"
)

// memberTableKey is the single key of the members bucket.
var memberTableKey = []byte("table")

const (
	partitionBytes = 2
	hashBytes      = 8
	keyPrefixBytes = partitionBytes + hashBytes

	// MaxKeyBytes is the longest key the engine stores, well inside bbolt's
	// 32 KiB key limit with the storage key and hint prefixes added. The
	// node enforces its own, lower limit (--max-key-bytes).
	MaxKeyBytes = 16 << 10
	// MaxTargetBytes is the longest hint target (a node id) AddHint takes.
	MaxTargetBytes = 1024
)

// Key returns the storage key under which key's object is stored:
// partition (2 bytes, big-endian) ‖ keyspace.Hash(key) (8 bytes,
// big-endian) ‖ key. Storage keys sort by partition, then hash, then key;
// Scan takes one to resume after it.
func Key(key []byte) []byte {
	return appendStorageKey(make([]byte, 0, keyPrefixBytes+len(key)), key)
}

func appendStorageKey(dst, key []byte) []byte {
	h := keyspace.Hash(key)
	dst = binary.BigEndian.AppendUint16(dst, uint16(keyspace.PartitionOfHash(h)))
	dst = binary.BigEndian.AppendUint64(dst, h)
	return append(dst, key...)
}

// userKey returns the key inside a storage key.
func userKey(sk []byte) []byte { return sk[keyPrefixBytes:] }

// hashOf returns the key hash inside a storage key.
func hashOf(sk []byte) uint64 { return binary.BigEndian.Uint64(sk[partitionBytes:keyPrefixBytes]) }

// partitionPrefix returns the 2-byte prefix shared by p's storage keys.
func partitionPrefix(p keyspace.Partition) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(p))
}

// hintPrefix returns the prefix of target's hint keys: len(target) (2 bytes,
// big-endian) ‖ target. The length makes one target's prefix never a prefix
// of another's.
func hintPrefix(target string) []byte {
	b := make([]byte, 0, 2+len(target))
	b = binary.BigEndian.AppendUint16(b, uint16(len(target)))
	return append(b, target...)
}

// hintKey returns the key of target's hint for key: hintPrefix ‖ storage key.
func hintKey(target string, key []byte) []byte {
	return appendStorageKey(hintPrefix(target), key)
}
