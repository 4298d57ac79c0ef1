package conflict_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
)

var benchSizes = []int{1, 10, 100}

// benchSibling is an object holding one 100-byte sibling of actor a.
func benchSibling(a conflict.ActorID) *conflict.Object {
	o := &conflict.Object{}
	o.Put(conflict.Siblings, conflict.Dot{Actor: a, Counter: 1}, conflict.Timestamp{Wall: 1_700_000_000_000_000_000 + int64(a)},
		bytes.Repeat([]byte{'v'}, 100), conflict.Context{})
	return o
}

// benchReplicas returns two replicas' objects with n siblings each, n/2 of
// them shared (written elsewhere and replicated to both), the rest each
// replica's own concurrent writes.
func benchReplicas(n int) (a, b *conflict.Object) {
	a, b = &conflict.Object{}, &conflict.Object{}
	for i := range n / 2 {
		s := benchSibling(conflict.ActorID(1 + i))
		a = conflict.Merge(conflict.Siblings, a, s)
		b = conflict.Merge(conflict.Siblings, b, s)
	}
	for i := range n - n/2 {
		a = conflict.Merge(conflict.Siblings, a, benchSibling(conflict.ActorID(1000+i)))
		b = conflict.Merge(conflict.Siblings, b, benchSibling(conflict.ActorID(2000+i)))
	}
	return a, b
}

func BenchmarkMerge(b *testing.B) {
	for _, n := range benchSizes {
		x, y := benchReplicas(n)
		if len(x.Reg.Siblings) != n || len(y.Reg.Siblings) != n {
			b.Fatalf("replicas hold %d and %d siblings, want %d", len(x.Reg.Siblings), len(y.Reg.Siblings), n)
		}
		b.Run(fmt.Sprintf("siblings-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				conflict.Merge(conflict.Siblings, x, y)
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, n := range benchSizes {
		x, _ := benchReplicas(n)
		b.Run(fmt.Sprintf("siblings-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(x.Marshal())))
			for b.Loop() {
				x.Marshal()
			}
		})
	}
}

func BenchmarkDecodeObject(b *testing.B) {
	for _, n := range benchSizes {
		x, _ := benchReplicas(n)
		enc := x.Marshal()
		b.Run(fmt.Sprintf("siblings-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				if _, err := conflict.DecodeObject(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
