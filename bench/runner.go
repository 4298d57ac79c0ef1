package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one run: a workload at one consistency level.
type Config struct {
	// Workload is what to run; required.
	Workload Workload
	// Consistency labels the result (one, quorum, all); the Store decides
	// the level the operations use.
	Consistency string
	// Clients is how many operations are in flight at most; at least 1.
	Clients int
	// Duration bounds the run by time; zero: no bound. At least one of
	// Duration and Ops is set.
	Duration time.Duration
	// Ops bounds the run by count of operations started; zero: no bound.
	Ops int64
	// Keys is the size of the key space; at least 1.
	Keys int64
	// ValueSize is the size of every value and set member written, in
	// bytes; zero writes empty values.
	ValueSize int
	// Distribution chooses keys; empty: the workload's own (Latest for D,
	// Uniform for the others).
	Distribution Distribution
	// Rate, when positive, runs an open loop: operation i is meant to
	// start at i/Rate seconds and its latency is measured from then, so a
	// stall shows in the percentiles. Zero: a closed loop, each client
	// issuing its next operation when the last one answered.
	Rate float64
	// Seed seeds every client's random choices (client i uses Seed and i).
	Seed uint64
	// Interval is the period of progress reports and of the time series;
	// zero: one second.
	Interval time.Duration
}

// Validate reports the first field outside its range, naming it.
func (c Config) Validate() error {
	switch {
	case len(c.Workload.Mix) == 0:
		return errors.New("workload: none given")
	case c.Clients < 1:
		return fmt.Errorf("clients: must be at least 1, got %d", c.Clients)
	case c.Duration < 0:
		return fmt.Errorf("duration: must not be negative, got %s", c.Duration)
	case c.Ops < 0:
		return fmt.Errorf("ops: must not be negative, got %d", c.Ops)
	case c.Duration == 0 && c.Ops == 0:
		return errors.New("duration, ops: one of them must be positive")
	case c.Keys < 1:
		return fmt.Errorf("keys: must be at least 1, got %d", c.Keys)
	case c.ValueSize < 0:
		return fmt.Errorf("value size: must not be negative, got %d", c.ValueSize)
	case c.Rate < 0:
		return fmt.Errorf("rate: must not be negative, got %g", c.Rate)
	case c.Interval < 0:
		return fmt.Errorf("interval: must not be negative, got %s", c.Interval)
	}
	if c.Distribution != "" {
		if _, err := ParseDistribution(string(c.Distribution)); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) interval() time.Duration {
	if c.Interval <= 0 {
		return time.Second
	}
	return c.Interval
}

func (c Config) distribution() Distribution {
	if c.Distribution != "" {
		return c.Distribution
	}
	if c.Workload.Distribution != "" {
		return c.Workload.Distribution
	}
	return Uniform
}

// Progress is what a run reports every interval while it runs.
type Progress struct {
	// Phase names the run: "load" or workload/consistency.
	Phase string
	// Elapsed is the time since the run started.
	Elapsed time.Duration
	// Duration and Ops are the run's bounds (zero: none).
	Duration time.Duration
	Ops      int64
	// Done is the number of successful operations so far.
	Done int64
	// OpsPerSec and P99 are the last interval's.
	OpsPerSec float64
	P99       time.Duration
	// Errors is the number of failed operations so far.
	Errors int64
}

// Point is one interval of a run's time series.
type Point struct {
	// Second is the end of the interval, in seconds since the run started.
	Second    float64 `json:"second"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P99US     int64   `json:"p99_us"`
	Errors    int64   `json:"errors"`
}

// Result is the outcome of one run. Its first fields are DESIGN.md's
// `bench` JSON row.
type Result struct {
	Workload    string  `json:"workload"`
	Consistency string  `json:"consistency"`
	Ops         int64   `json:"ops"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	Errors      int64   `json:"errors"`
	LatencyUS   Latency `json:"latency_us"`

	ErrorsByKind ErrorCounts `json:"errors_by_kind"`
	// Operations is the same per operation kind.
	Operations []OpResult `json:"operations"`
	Loop       string     `json:"loop"` // closed or open
	Rate       float64    `json:"rate,omitempty"`
	// Unsent counts, in an open loop bounded by Duration, the operations
	// that were due before the end but that no client was free to send:
	// the clients could not keep up with Rate.
	Unsent       int64   `json:"unsent,omitempty"`
	Clients      int     `json:"clients"`
	Distribution string  `json:"distribution"`
	Seconds      float64 `json:"seconds"`
	Series       []Point `json:"series"`
}

// loadWorkload writes every key once, in order.
var loadWorkload = Workload{Name: "load", Mix: []Share{{OpInsert, 1}}, Distribution: Uniform}

// Load writes every one of cfg.Keys register keys once (set workloads need
// no load), with cfg.Clients clients in a closed loop; cfg.Workload,
// Duration, Ops and Rate are ignored. It reports like Run, under phase
// "load".
func Load(ctx context.Context, s Store, cfg Config, progress func(Progress)) (Result, error) {
	cfg.Workload, cfg.Duration, cfg.Ops, cfg.Rate = loadWorkload, 0, cfg.Keys, 0
	return run(ctx, s, cfg, 0, progress)
}

// Run runs cfg against s and returns its result. It blocks until the run's
// bound is reached or ctx ends (then it returns ctx's error and what was
// measured), calling progress (if not nil) from one goroutine every
// interval. Every goroutine it starts has ended when it returns.
func Run(ctx context.Context, s Store, cfg Config, progress func(Progress)) (Result, error) {
	return run(ctx, s, cfg, cfg.Keys, progress)
}

// runner is the shared state of one run's clients.
type runner struct {
	cfg      Config
	store    Store
	rec      *recorder
	choose   chooser
	inserted atomic.Int64 // keys that exist (or are being written)
	started  atomic.Int64 // operations started
	start    time.Time
	deadline time.Time // zero: none
}

func run(ctx context.Context, s Store, cfg Config, existing int64, progress func(Progress)) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	r := &runner{cfg: cfg, store: s, rec: newRecorder()}
	r.inserted.Store(existing)
	r.choose = newChooser(cfg.distribution(), cfg.Keys, &r.inserted)
	phase := cfg.Workload.Name
	if cfg.Consistency != "" && cfg.Workload.Name != loadWorkload.Name {
		phase += "/" + cfg.Consistency
	}

	r.start = time.Now()
	if cfg.Duration > 0 {
		r.deadline = r.start.Add(cfg.Duration)
	}
	var workers sync.WaitGroup
	for i := range cfg.Clients {
		workers.Add(1)
		go func() {
			defer workers.Done()
			r.client(ctx, uint64(i))
		}()
	}

	// The reporter: one series point and one progress call per interval.
	var (
		series   []Point
		done     int64
		reporter sync.WaitGroup
		stop     = make(chan struct{})
		lastTick = r.start
	)
	emit := func(now time.Time) {
		ops, p99, errs := r.rec.tick()
		span := now.Sub(lastTick).Seconds()
		lastTick = now
		if span <= 0 {
			return
		}
		done += ops
		pt := Point{Second: now.Sub(r.start).Seconds(), OpsPerSec: float64(ops) / span, P99US: p99.Microseconds(), Errors: errs}
		// A last interval much shorter than the others holds only the
		// operations draining at the end: too few to plot.
		if span >= cfg.interval().Seconds()/2 || len(series) == 0 {
			series = append(series, pt)
		}
		if progress != nil {
			progress(Progress{Phase: phase, Elapsed: now.Sub(r.start), Duration: cfg.Duration, Ops: cfg.Ops,
				Done: done, OpsPerSec: pt.OpsPerSec, P99: p99, Errors: r.rec.errors().Total()})
		}
	}
	reporter.Add(1)
	go func() {
		defer reporter.Done()
		t := time.NewTicker(cfg.interval())
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				emit(now)
			}
		}
	}()
	workers.Wait()
	end := time.Now()
	close(stop)
	reporter.Wait()
	emit(end) // the last, partial interval

	lat, ops, errs, kinds := r.rec.summary()
	elapsed := end.Sub(r.start).Seconds()
	res := Result{
		Workload: cfg.Workload.Name, Consistency: cfg.Consistency,
		Ops: ops, Errors: errs.Total(), LatencyUS: lat, ErrorsByKind: errs, Operations: kinds,
		Loop: "closed", Clients: cfg.Clients, Distribution: string(cfg.distribution()),
		Seconds: elapsed, Series: series,
	}
	if elapsed > 0 {
		res.OpsPerSec = float64(ops) / elapsed
	}
	if cfg.Rate > 0 {
		res.Loop, res.Rate = "open", cfg.Rate
		due := cfg.Ops
		if cfg.Duration > 0 {
			due = int64(cfg.Duration.Seconds() * cfg.Rate)
			if cfg.Ops > 0 {
				due = min(due, cfg.Ops)
			}
		}
		res.Unsent = max(due-ops-errs.Total(), 0)
	}
	if res.Operations == nil {
		res.Operations = []OpResult{}
	}
	if res.Series == nil {
		res.Series = []Point{}
	}
	return res, ctx.Err()
}

// client issues operations until the run's bound or ctx's end.
func (r *runner) client(ctx context.Context, id uint64) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, id))
	value := make([]byte, r.cfg.ValueSize)
	for i := range value {
		value[i] = byte('a' + rng.IntN(26))
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	open := r.cfg.Rate > 0
	for ctx.Err() == nil {
		n := r.started.Add(1) - 1
		if r.cfg.Ops > 0 && n >= r.cfg.Ops {
			return
		}
		var intended time.Time
		if open {
			// Operation n is due at n/Rate whoever runs it: when every
			// client is stuck, the operations due meanwhile start late
			// and their latency counts the wait.
			intended = r.start.Add(time.Duration(float64(n) / r.cfg.Rate * float64(time.Second)))
			if !r.deadline.IsZero() && !intended.Before(r.deadline) {
				return
			}
			if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
				return // due, but the run is over: counted as unsent
			}
			if d := time.Until(intended); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		} else {
			intended = time.Now()
			if !r.deadline.IsZero() && !intended.Before(r.deadline) {
				return
			}
		}
		kind := r.cfg.Workload.pick(rng.Float64())
		err := r.do(ctx, kind, rng, value)
		if ctx.Err() != nil {
			return // interrupted: neither a latency nor an error
		}
		r.rec.record(kind, time.Since(intended), err)
	}
}

// do runs one operation of kind.
func (r *runner) do(ctx context.Context, kind OpKind, rng *rand.Rand, value []byte) error {
	if len(value) >= 8 {
		binary.LittleEndian.PutUint64(value, rng.Uint64()) // every write differs
	}
	switch kind {
	case OpRead:
		_, err := r.store.Get(ctx, Key(r.choose.next(rng)))
		return err
	case OpUpdate:
		return r.store.Put(ctx, Key(r.choose.next(rng)), value, nil)
	case OpInsert:
		return r.store.Put(ctx, Key(r.inserted.Add(1)-1), value, nil)
	case OpRMW:
		key := Key(r.choose.next(rng))
		token, err := r.store.Get(ctx, key)
		if err != nil {
			return err
		}
		return r.store.Put(ctx, key, value, token)
	case OpSAdd:
		return r.store.SAdd(ctx, SetKey(r.choose.next(rng)), value)
	}
	return fmt.Errorf("bench: unknown operation kind %d", int(kind))
}
