package keyspace

import (
	"errors"
	"fmt"
	"testing"
)

func TestPartitionOf_coversAllPartitionsEvenly(t *testing.T) {
	counts := make([]int, Q)
	const n = 200 * Q
	for i := 0; i < n; i++ {
		p := PartitionOf([]byte(fmt.Sprintf("key-%d", i)))
		if int(p) >= Q {
			t.Fatalf("partition %d out of range", p)
		}
		counts[p]++
	}
	for p, c := range counts {
		// 200 expected per partition; a hash this far off is broken.
		if c < 100 || c > 300 {
			t.Fatalf("partition %d got %d keys of %d, want about 200", p, c, n)
		}
	}
}

func TestQ_isFixedByDesign(t *testing.T) {
	if Q != 1024 || 1<<PartitionBits != Q {
		t.Fatalf("Q = %d, PartitionBits = %d: DESIGN.md fixes Q = 1024 = 1<<PartitionBits", Q, PartitionBits)
	}
	if PartitionOfHash(^uint64(0)) != Q-1 || PartitionOfHash(0) != 0 {
		t.Fatalf("the top PartitionBits bits do not span the partitions")
	}
}

func TestPartition_Start_ordersHashes(t *testing.T) {
	for _, key := range []string{"a", "b", "user:42", "\x00"} {
		h := Hash([]byte(key))
		p := PartitionOfHash(h)
		if h < p.Start() {
			t.Fatalf("hash %x below start %x of its partition", h, p.Start())
		}
		if p < Q-1 && h >= (p+1).Start() {
			t.Fatalf("hash %x beyond its partition %d", h, p)
		}
	}
	if Partition(Q-1).Start() != 0xffc0000000000000 {
		t.Fatalf("last partition starts at %x", Partition(Q-1).Start())
	}
}

func TestLimits_Check(t *testing.T) {
	l := Limits{MaxKeyBytes: 4, MaxValueBytes: 8}
	tests := map[string]struct {
		key, value []byte
		want       error
	}{
		"ok":              {[]byte("abcd"), make([]byte, 8), nil},
		"empty key":       {nil, nil, ErrEmptyKey},
		"key too large":   {[]byte("abcde"), nil, ErrKeyTooLarge},
		"value too large": {[]byte("a"), make([]byte, 9), ErrValueTooLarge},
		"empty value ok":  {[]byte("a"), []byte{}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := l.CheckKey(tc.key)
			if err == nil {
				err = l.CheckValue(tc.value)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLimits_CheckKey_namesTheLimit(t *testing.T) {
	err := DefaultLimits().CheckKey(make([]byte, 1025))
	want := "key too large: key is 1025 bytes, the limit is 1024 bytes (--max-key-bytes)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}
