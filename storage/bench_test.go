package storage_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

// benchWriters is how many goroutines write at once in BenchmarkPut.
const benchWriters = 64

var benchValue = strings.Repeat("v", 100)

// BenchmarkPut merges b.N new 100-byte registers from 64 writers at once,
// with and without group commit. ns/op is wall time per write.
func BenchmarkPut(b *testing.B) {
	modes := []struct {
		name        string
		groupCommit bool
	}{{"group-commit", true}, {"commit-per-put", false}}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			cfg := configIn(b.TempDir())
			cfg.GroupCommit = m.groupCommit
			var syncs atomic.Int64
			cfg.OnSync = func(int) { syncs.Add(1) }
			e := storagetest.Open(b, cfg)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for range benchWriters {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						key := fmt.Appendf(nil, "key-%09d", i)
						obj := storagetest.Register(storagetest.ActorA, uint64(i+1), i, benchValue)
						if _, err := e.Merge(key, obj); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/float64(max(syncs.Load(), 1)), "writes/sync")
		})
	}
}

// BenchmarkGet reads random keys of 10,000 from parallel readers.
func BenchmarkGet(b *testing.B) {
	const n = 10_000
	e := storagetest.Open(b, configIn(b.TempDir()))
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for w := range benchWriters {
		wg.Go(func() {
			for i := w; i < n; i += benchWriters {
				keys[i] = fmt.Appendf(nil, "key-%09d", i)
				if _, err := e.Merge(keys[i], storagetest.Register(storagetest.ActorA, uint64(i+1), 1, benchValue)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			if _, err := e.Get(keys[r.IntN(n)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

var _ = storage.DefaultConfig
