package storage_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
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

// BenchmarkPut merges b.N new 100-byte registers into the commit log from
// 1 or 64 writers at once, with and without group commit. ns/op is wall
// time per write; writes/sync how many one fdatasync covered.
func BenchmarkPut(b *testing.B) {
	modes := []struct {
		name        string
		groupCommit bool
		writers     int
	}{{"group-commit/writers=64", true, 64}, {"group-commit/writers=1", true, 1}, {"sync-per-put/writers=64", false, 64}}
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
			for range m.writers {
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

// BenchmarkFlush measures the batched apply: writing 10,000 durable
// records of keys spread over 100,000 to bbolt in one flush. ns/op is per
// record.
func BenchmarkFlush(b *testing.B) {
	const keys, batch = 100_000, 10_000
	cfg := configIn(b.TempDir())
	cfg.FlushInterval = storage.MaxFlushInterval
	e := storagetest.Open(b, cfg)
	put := func(n int, spread bool) {
		var wg sync.WaitGroup
		for w := range benchWriters {
			wg.Go(func() {
				for i := w; i < n; i += benchWriters {
					k := i
					if spread {
						k = int(uint64(i) * 0x9e3779b97f4a7c15 % keys)
					}
					obj := storagetest.Register(storagetest.ActorA, uint64(i+1), int64(i+1), benchValue)
					if _, err := e.Merge(fmt.Appendf(nil, "key-%09d", k), obj); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	put(keys, false)
	if err := e.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		put(batch, true)
		b.StartTimer()
		if err := e.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
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

// BenchmarkHeap holds 1,000,000 keys of 100-byte values, then rewrites
// random keys from 64 writers, and reports the Go heap in use (after a
// collection) once loaded and the most seen while writing: the memtable
// must stay bounded by the flush, whatever the number of keys. Run it
// alone: go test -run '^$' -bench Heap -benchtime 1x ./storage/
func BenchmarkHeap(b *testing.B) {
	const keys = 1_000_000
	cfg := configIn(b.TempDir())
	e := storagetest.Open(b, cfg)
	write := func(n int, key func(i int) int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range benchWriters {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					k := key(i)
					obj := storagetest.Register(storagetest.ActorA, uint64(i+1), int64(i+1), benchValue)
					if _, err := e.Merge(fmt.Appendf(nil, "key-%09d", k), obj); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	heap := func() float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapInuse) / (1 << 20)
	}
	write(keys, func(i int) int { return i })
	loaded := heap()
	b.ResetTimer()
	peak := loaded
	for range b.N {
		for range 10 {
			write(100_000, func(i int) int { return int(uint64(i) * 0x9e3779b97f4a7c15 % keys) })
			peak = max(peak, heap())
		}
	}
	b.ReportMetric(loaded, "MB-heap-loaded")
	b.ReportMetric(peak, "MB-heap-peak")
}
