package cluster

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	seedFlag = flag.Uint64("cluster.seed", 0, "run the randomized tests of package cluster with this seed only (0: -cluster.runs seeds from the time)")
	runsFlag = flag.Int("cluster.runs", 100, "how many seeds each randomized test of package cluster runs when -cluster.seed is not set")
	logFlag  = flag.Bool("cluster.log", false, "print the logs of the test nodes (memberlist's included) on stderr")
)

// TestMain checks that no goroutine outlives the tests. memberlist stops
// every goroutine it starts once Shutdown has been called (its listeners,
// handlers and tickers watch its shutdown channel; stream handlers end with
// their streams, which clustertest closes), though not synchronously, so
// goleak's default retries are enough; nothing is ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// forEachSeed runs f once per seed in a subtest named after the seed, and
// logs how to run that seed again.
func forEachSeed(t *testing.T, f func(t *testing.T, rng *rand.Rand)) {
	t.Helper()
	seeds := []uint64{*seedFlag}
	if *seedFlag == 0 {
		n := max(*runsFlag, 1)
		if testing.Short() {
			n = max(n/10, 1)
		}
		base := uint64(time.Now().UnixNano())
		seeds = seeds[:0]
		for i := range n {
			seeds = append(seeds, base+uint64(i))
		}
	}
	name := t.Name()
	for _, s := range seeds {
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Logf("seed %d (rerun: go test -run '^%s$' -cluster.seed=%d ./cluster/)", s, name, s)
			f(t, rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)))
		})
	}
}
