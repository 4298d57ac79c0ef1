package antientropy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/storage"
)

// BenchmarkAntiEntropyRound measures one round between two replicas of
// 100,000 keys that differ in 0, 100 or 10,000 keys (a newer copy of each,
// half on either side), over loopback gRPC, without rate limits: with the
// default of 10,000 keys/s, diff-10000 would measure the limiter.
// The replicas are built once per sub-benchmark, outside the timer, and
// made to differ again before every round.
func BenchmarkAntiEntropyRound(b *testing.B) {
	const n = 100_000
	for _, diff := range []int{0, 100, 10_000} {
		b.Run(fmt.Sprintf("diff-%d", diff), func(b *testing.B) {
			built := time.Now()
			sa, sb, keys := twinStores(b, n, 100)
			c := newTestCluster(b, clusterOptions{stores: map[string]*storage.Engine{"a": sa, "b": sb}, config: func(cfg *Config) {
				cfg.MaxKeysPerSecond, cfg.MaxBytesPerSecond = -1, -1
			}}, "a", "b")
			b.Logf("built 2 x %d keys in %v", n, time.Since(built).Round(time.Millisecond))
			a := c.nodes["a"]
			var keysX, bytesX, entries int64
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				diverge(b, sa, sb, keys, diff, uint64(i))
				b.StartTimer()
				r, err := a.ae.RoundWith(context.Background(), "b")
				if err != nil {
					b.Fatal(err)
				}
				keysX += int64(r.KeysExchanged)
				bytesX += r.BytesExchanged
				entries += int64(r.EntriesCompared)
			}
			b.StopTimer()
			if sa.Digest() != sb.Digest() {
				b.Fatal("replicas differ after the round")
			}
			b.ReportMetric(float64(keysX)/float64(b.N), "keys/round")
			b.ReportMetric(float64(bytesX)/float64(b.N), "bytes/round")
			b.ReportMetric(float64(entries)/float64(b.N), "entries/round")
		})
	}
}

// diverge gives diff keys spread over the key space a newer copy, half on
// each store; iter makes every call's copies newer than the last's.
func diverge(tb testing.TB, sa, sb *storage.Engine, keys [][]byte, diff int, iter uint64) {
	if diff == 0 {
		return
	}
	var ka, kb [][]byte
	for i := range diff {
		if k := keys[i*(len(keys)/diff)]; i%2 == 0 {
			ka = append(ka, k)
		} else {
			kb = append(kb, k)
		}
	}
	stamp := func(ks [][]byte, actor uint64) []*conflict.Object {
		out := make([]*conflict.Object, len(ks))
		for i := range ks {
			out[i] = registerObject(actor, iter*uint64(len(keys))+uint64(i+1), int64(1e12+iter), "changed")
		}
		return out
	}
	writeAll(tb, ka, stamp(ka, 8), sa)
	writeAll(tb, kb, stamp(kb, 9), sb)
}
