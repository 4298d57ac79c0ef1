package ring

import (
	"fmt"
	"testing"
)

func BenchmarkNew(b *testing.B) {
	tests := []struct{ nodes, vnodes int }{
		{100, 64},
		{300, 256},
	}
	for _, tc := range tests {
		ms := make([]Member, tc.nodes)
		for i := range ms {
			ms[i] = Member{ID: fmt.Sprintf("node-%03d", i), VNodes: tc.vnodes, State: Normal}
		}
		// A ring in motion builds both views differently.
		ms[0].State, ms[1].State = Joining, Leaving
		b.Run(fmt.Sprintf("nodes=%d/vnodes=%d", tc.nodes, tc.vnodes), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(ms, testN, testQ); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
