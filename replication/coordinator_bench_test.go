package replication_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

// benchClients is how many goroutines issue requests at once.
const benchClients = 64

// benchKeys is the key space the benchmarks spread their requests over.
const benchKeys = 4096

// BenchmarkCoordinator_Put measures QUORUM puts through any of 3 nodes, with
// 64 clients, over the in-memory network and over loopback gRPC.
func BenchmarkCoordinator_Put(b *testing.B) { benchCoordinator(b, false) }

// BenchmarkCoordinator_Get measures QUORUM gets of existing keys through any
// of 3 nodes, with 64 clients, over the in-memory network and over loopback
// gRPC.
func BenchmarkCoordinator_Get(b *testing.B) { benchCoordinator(b, true) }

func benchCoordinator(b *testing.B, get bool) {
	for _, tr := range []struct {
		name string
		grpc bool
	}{{"inmem", false}, {"grpc", true}} {
		b.Run(tr.name, func(b *testing.B) {
			c := replicationtest.NewCluster(b, replicationtest.ClusterConfig{GRPC: tr.grpc})
			keys := make([][]byte, benchKeys)
			for i := range keys {
				keys[i] = fmt.Appendf(nil, "bench/key/%06d", i)
			}
			value := make([]byte, 128)
			if get {
				benchFill(b, c, keys, value)
			}
			var next atomic.Uint64
			b.SetParallelism(max(1, benchClients/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					n := next.Add(1)
					co := c.Nodes[n%uint64(len(c.Nodes))].Coord
					key := keys[(n*7919)%benchKeys]
					var err error
					if get {
						var res replication.ReadResult
						res, err = co.Get(ctx, key, replication.Quorum)
						if err == nil && !res.Found {
							err = fmt.Errorf("key %q not found", key)
						}
					} else {
						_, err = co.Put(ctx, key, value, nil, replication.Quorum)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}

// benchFill writes every key at ALL.
func benchFill(b *testing.B, c *replicationtest.Cluster, keys [][]byte, value []byte) {
	b.Helper()
	var wg sync.WaitGroup
	var failed atomic.Value
	const workers = 16
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(keys); i += workers {
				if _, err := c.Nodes[i%len(c.Nodes)].Coord.Put(context.Background(), keys[i], value, nil, replication.All); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
}
