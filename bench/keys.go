package bench

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
)

// Distribution is how a workload chooses the key of each operation.
type Distribution string

// The distributions, as YCSB's requestdistribution.
const (
	// Uniform: every key alike.
	Uniform Distribution = "uniform"
	// Zipfian: a few keys are hot (YCSB's scrambled zipfian, constant
	// 0.99): popularity falls with rank as 1/rank^0.99, and the ranks are
	// scattered over the key space so hot keys land on different
	// partitions.
	Zipfian Distribution = "zipfian"
	// Latest: zipfian over recency: the most recently inserted keys are
	// the hottest (workload D).
	Latest Distribution = "latest"
)

// ParseDistribution returns the distribution named s (any case).
func ParseDistribution(s string) (Distribution, error) {
	switch d := Distribution(strings.ToLower(strings.TrimSpace(s))); d {
	case Uniform, Zipfian, Latest:
		return d, nil
	}
	return "", fmt.Errorf("unknown distribution %q: use uniform, zipfian or latest", s)
}

// ZipfianConstant is YCSB's skew: item of rank k (from 0) is drawn with
// probability proportional to 1/(k+1)^ZipfianConstant.
const ZipfianConstant = 0.99

// zipf draws ranks in [0, n) (Gray et al., "Quickly generating
// billion-record synthetic databases", as YCSB's ZipfianGenerator). It is
// immutable once built, so workers share one.
type zipf struct {
	n                   int64
	theta, alpha, zetan float64
	eta, half           float64
}

func newZipf(n int64, theta float64) *zipf {
	zetan := zeta(n, theta)
	z := &zipf{n: n, theta: theta, alpha: 1 / (1 - theta), zetan: zetan, half: 1 + math.Pow(0.5, theta)}
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta(2, theta)/zetan)
	return z
}

// zeta is the sum over i in [1, n] of 1/i^theta.
func zeta(n int64, theta float64) float64 {
	var s float64
	for i := int64(1); i <= n; i++ {
		s += 1 / math.Pow(float64(i), theta)
	}
	return s
}

// rank draws a rank: 0 is the most popular.
func (z *zipf) rank(r *rand.Rand) int64 {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.half {
		return min(1, z.n-1)
	}
	k := int64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(max(k, 0), z.n-1)
}

// chooser picks key indexes. Implementations are safe for concurrent use
// as long as each goroutine passes its own *rand.Rand.
type chooser interface {
	next(r *rand.Rand) int64
}

type uniformChooser struct{ n int64 }

func (u uniformChooser) next(r *rand.Rand) int64 { return r.Int64N(u.n) }

// zipfChooser scrambles ranks over the key space with FNV-1a, as YCSB's
// ScrambledZipfianGenerator.
type zipfChooser struct{ z *zipf }

func (c zipfChooser) next(r *rand.Rand) int64 { return scramble(c.z.rank(r), c.z.n) }

func scramble(rank, n int64) int64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(rank >> (8 * i))
	}
	_, _ = h.Write(b[:])
	return int64(h.Sum64() % uint64(n))
}

// latestChooser picks key count-1-rank: the newest keys are the hottest.
// count grows as the workload inserts.
type latestChooser struct {
	z     *zipf
	count *atomic.Int64
}

func (c latestChooser) next(r *rand.Rand) int64 {
	return max(c.count.Load()-1-c.z.rank(r), 0)
}

// newChooser builds the chooser of d over n keys; count is the number of
// keys that exist, which inserts advance (Latest reads it).
func newChooser(d Distribution, n int64, count *atomic.Int64) chooser {
	switch d {
	case Zipfian:
		return zipfChooser{newZipf(n, ZipfianConstant)}
	case Latest:
		return latestChooser{z: newZipf(n, ZipfianConstant), count: count}
	}
	return uniformChooser{n}
}

// Key renders key index i of a register workload; SetKey that of a set
// workload. They never collide, so a sadd run can follow a loaded run.
func Key(i int64) []byte { return fmt.Appendf(nil, "user%012d", i) }

// SetKey renders key index i of a set workload.
func SetKey(i int64) []byte { return fmt.Appendf(nil, "set%012d", i) }
