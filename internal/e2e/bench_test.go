package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// BenchmarkCluster3 measures put and get throughput of a three-node
// cluster of real kvnode processes at QUORUM, with 64 concurrent clients
// sharing one token-aware Go client:
//
//	go test -run '^$' -bench Cluster3 -benchtime 20000x ./internal/e2e/
func BenchmarkCluster3(b *testing.B) {
	c := launch(b, 3)
	cl, err := client.New([]string{c.endpoint(1), c.endpoint(2), c.endpoint(3)},
		client.WithTokenAware(time.Second), client.WithTimeout(5*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	value := make([]byte, 100)
	const keys = 10000
	// Let the client learn the ring before measuring.
	eventually(b, 10*time.Second, "ring table", func() bool {
		_, err := cl.Put(ctx, []byte("warmup"), value)
		return err == nil
	})
	for _, op := range []string{"put", "get"} {
		b.Run(op, func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 CPUs
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := []byte(fmt.Sprintf("bench-%d", n.Add(1)%keys))
					var err error
					if op == "put" {
						_, err = cl.Put(ctx, key, value, client.WithConsistency(client.Quorum))
					} else {
						_, err = cl.Get(ctx, key, client.WithConsistency(client.Quorum))
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
