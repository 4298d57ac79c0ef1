package conflict_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	seedFlag = flag.Uint64("conflict.seed", 0, "run the randomized tests of package conflict with this seed only (0: -conflict.runs seeds from the time)")
	runsFlag = flag.Int("conflict.runs", 200, "how many seeds each randomized test of package conflict runs when -conflict.seed is not set")
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// seeds returns the seeds a randomized test runs: -conflict.seed alone when
// set, otherwise -conflict.runs (-short: a tenth) consecutive seeds from a
// time-based base.
func seeds() []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	n := max(*runsFlag, 1)
	if testing.Short() {
		n = max(n/10, 1)
	}
	base := uint64(time.Now().UnixNano())
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

// forEachSeed runs f once per seed in a subtest named after the seed, and
// logs how to run that seed again.
func forEachSeed(t *testing.T, f func(t *testing.T, rng *rand.Rand)) {
	t.Helper()
	name := t.Name()
	for _, s := range seeds() {
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Logf("seed %d (rerun: go test ./conflict/ -run '^%s$' -conflict.seed=%d)", s, name, s)
			f(t, rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)))
		})
	}
}
