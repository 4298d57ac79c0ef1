package storage_test

import (
	"encoding/hex"
	"testing"

	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

// The Merkle layout and the entry hash are part of the wire contract:
// peers compare them. These values pin them, computed outside Go (the leaf
// by hand from the xxhash, the entry hash with Python's hashlib).
func TestMerkleLayout_isTheContract(t *testing.T) {
	if storage.MerkleLeaves != 1<<storage.MerkleLeafBits {
		t.Fatalf("MerkleLeaves = %d, want 1<<MerkleLeafBits = %d", storage.MerkleLeaves, 1<<storage.MerkleLeafBits)
	}
	if keyspace.PartitionBits+storage.MerkleLeafBits > 64 {
		t.Fatal("partition and leaf bits exceed the 64-bit key hash")
	}
	for _, tc := range []struct {
		key       string
		partition keyspace.Partition
		leaf      int
		entryHash string // of the encoding "enc"
	}{
		{"a", 841, 59, "49e66583e23e1aaeecc8d899672bc6a2"},
		{"user:42", 880, 127, "6ca38e14e613f3389f4ee9b5dcb085f0"},
		{"key-0000001", 822, 76, "dd2ed3058d089ca434807cafe0ccd8a4"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			k := []byte(tc.key)
			if p := keyspace.PartitionOf(k); p != tc.partition {
				t.Errorf("partition %d, want %d", p, tc.partition)
			}
			if l := storage.LeafOf(k); l != tc.leaf {
				t.Errorf("leaf %d, want %d", l, tc.leaf)
			}
			if h := storage.EntryHash(k, []byte("enc")); hex.EncodeToString(h[:]) != tc.entryHash {
				t.Errorf("entry hash %x, want %s", h, tc.entryHash)
			}
		})
	}
}
