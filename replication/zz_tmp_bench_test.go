package replication_test

import (
	"fmt"
	"testing"

	"github.com/quorumkv/quorumkv/replication"
)

func BenchmarkTmpStreams(b *testing.B) {
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			peer := startPeer(b, echoReplica{}, "127.0.0.1:0")
			cfg := replication.DefaultGRPCTransportConfig()
			cfg.StreamsPerPeer = n
			tr := newTransport(b, newResolver("n2", peer.addr), cfg)
			benchmarkApply(b, tr)
			b.ReportMetric(float64(peer.ops.Load())/float64(max(peer.batches.Load(), 1)), "ops/batch")
		})
	}
}
