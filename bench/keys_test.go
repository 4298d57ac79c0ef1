package bench

import (
	"flag"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
)

var seed = flag.Uint64("seed", 20261203, "seed of the randomized tests")

// newRand returns the test's random source and logs its seed.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	t.Logf("seed %d (rerun with -args -seed=%d)", *seed, *seed)
	return rand.New(rand.NewPCG(*seed, 0))
}

// counts draws from c n times and returns how often each key came up,
// sorted from the most frequent.
func counts(c chooser, r *rand.Rand, keys, n int) []int {
	out := make([]int, keys)
	for range n {
		out[c.next(r)]++
	}
	slices.SortFunc(out, func(a, b int) int { return b - a })
	return out
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func TestZipf_rank_followsTheZipfLaw(t *testing.T) {
	r := newRand(t)
	const n, draws = 1000, 400000
	z := newZipf(n, ZipfianConstant)
	got := make([]int, n)
	for range draws {
		got[z.rank(r)]++
	}
	// The two most popular ranks are exact in Gray et al.'s method:
	// P(k) = 1/(k+1)^theta / zeta(n).
	for k := range 2 {
		want := 1 / math.Pow(float64(k+1), ZipfianConstant) / z.zetan
		if p := float64(got[k]) / draws; math.Abs(p-want) > 0.05*want {
			t.Errorf("P(rank %d) = %.4f, want %.4f ± 5%%", k, p, want)
		}
	}
	// The top 10% of ranks take their share of the draws:
	// zeta(n/10)/zeta(n), about 70%, where a uniform choice gives 10%.
	want := zeta(n/10, ZipfianConstant) / z.zetan
	if p := float64(sum(got[:n/10])) / draws; math.Abs(p-want) > 0.03 {
		t.Errorf("top 10%% of ranks drew %.3f of the draws, want %.3f ± 0.03", p, want)
	}
	// Popularity falls with rank.
	if got[0] <= got[1] || got[1] <= got[9] || got[9] <= got[99] || got[99] <= got[999] {
		t.Errorf("counts of ranks 0, 1, 9, 99, 999 = %d %d %d %d %d: not falling", got[0], got[1], got[9], got[99], got[999])
	}
}

func TestChooser_distributions(t *testing.T) {
	const n, draws = 1000, 200000
	for name, tc := range map[string]struct {
		dist           Distribution
		topShare       [2]float64 // bounds of the share of the top 10% of keys
		hottestAtLeast float64    // share of the single hottest key
	}{
		"uniform": {Uniform, [2]float64{0.09, 0.12}, 0},
		"zipfian": {Zipfian, [2]float64{0.60, 0.80}, 0.05},
		"latest":  {Latest, [2]float64{0.60, 0.80}, 0.10},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRand(t)
			var count atomic.Int64
			count.Store(n)
			got := counts(newChooser(tc.dist, n, &count), r, n, draws)
			if share := float64(sum(got[:n/10])) / draws; share < tc.topShare[0] || share > tc.topShare[1] {
				t.Errorf("top 10%% of keys drew %.3f of the draws, want within %v", share, tc.topShare)
			}
			if share := float64(got[0]) / draws; share < tc.hottestAtLeast {
				t.Errorf("hottest key drew %.3f, want at least %.3f", share, tc.hottestAtLeast)
			}
			if tc.dist == Uniform {
				// Every key about draws/n times: within 6 standard deviations.
				mean := float64(draws) / n
				if dev := 6 * math.Sqrt(mean); float64(got[0]) > mean+dev || float64(got[n-1]) < mean-dev {
					t.Errorf("uniform counts range %d..%d, want %.0f ± %.0f", got[n-1], got[0], mean, dev)
				}
			}
		})
	}
}

func TestLatestChooser_prefersTheNewestKeys(t *testing.T) {
	r := newRand(t)
	var count atomic.Int64
	count.Store(1000)
	c := newChooser(Latest, 1000, &count)
	count.Store(1500) // 500 inserts since
	newest := 0
	for range 10000 {
		k := c.next(r)
		if k < 0 || k >= 1500 {
			t.Fatalf("key %d outside [0, 1500)", k)
		}
		if k == 1499 {
			newest++
		}
	}
	if newest < 1000 {
		t.Errorf("the newest key drew %d of 10000, want the most (about 1/zeta ≈ 13%%)", newest)
	}
}

func TestScramble_spreadsRanks(t *testing.T) {
	seen := map[int64]bool{}
	for rank := range int64(100) {
		k := scramble(rank, 1000)
		if k < 0 || k >= 1000 {
			t.Fatalf("scramble(%d) = %d, outside the key space", rank, k)
		}
		seen[k] = true
	}
	if len(seen) < 90 {
		t.Errorf("100 ranks map to %d keys: hot keys collide", len(seen))
	}
}

func TestParseDistribution(t *testing.T) {
	for in, want := range map[string]Distribution{"uniform": Uniform, "Zipfian": Zipfian, " LATEST ": Latest} {
		if got, err := ParseDistribution(in); err != nil || got != want {
			t.Errorf("ParseDistribution(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseDistribution("pareto"); err == nil {
		t.Error("ParseDistribution(pareto): no error")
	}
}
