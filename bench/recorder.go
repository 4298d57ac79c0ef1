package bench

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/quorumkv/quorumkv/client"
)

// Histogram bounds: 1 µs to 10 minutes, 3 significant digits.
const (
	lowestLatencyUS  = 1
	highestLatencyUS = int64(10 * time.Minute / time.Microsecond)
	significantFigs  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(lowestLatencyUS, highestLatencyUS, significantFigs)
}

// ErrorCounts counts failed operations by kind. Failed operations are
// never counted as throughput nor recorded as latencies.
type ErrorCounts struct {
	// LevelNotMet: a coordinator answered that the consistency level was
	// not met (client.ErrUnavailable).
	LevelNotMet int64 `json:"level_not_met"`
	// Timeout: no endpoint or replica answered in time.
	Timeout int64 `json:"timeout"`
	// Other: any other error (a wrong type for the key, ...).
	Other int64 `json:"other"`
}

// Total is the number of failed operations.
func (e ErrorCounts) Total() int64 { return e.LevelNotMet + e.Timeout + e.Other }

// add counts err under its kind.
func (e *ErrorCounts) add(err error) {
	switch {
	case errors.Is(err, client.ErrUnavailable):
		e.LevelNotMet++
	case errors.Is(err, client.ErrNoEndpoint), errors.Is(err, context.DeadlineExceeded):
		e.Timeout++
	default:
		e.Other++
	}
}

// recorder collects the outcome of every operation of one run: latencies
// per kind over the whole run, and the current interval's throughput, p99
// and errors for the progress line and the time series. It is safe for
// concurrent use.
type recorder struct {
	mu       sync.Mutex
	kinds    [numOpKinds]*hdrhistogram.Histogram
	errs     [numOpKinds]ErrorCounts
	interval *hdrhistogram.Histogram
	ivErrs   int64
}

func newRecorder() *recorder {
	r := &recorder{interval: newHistogram()}
	for i := range r.kinds {
		r.kinds[i] = newHistogram()
	}
	return r
}

// record counts one operation of kind that took d, or failed with err.
func (r *recorder) record(kind OpKind, d time.Duration, err error) {
	us := max(d.Microseconds(), lowestLatencyUS)
	us = min(us, highestLatencyUS)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs[kind].add(err)
		r.ivErrs++
		return
	}
	_ = r.kinds[kind].RecordValue(us) // in range by the clamps above
	_ = r.interval.RecordValue(us)
}

// tick ends the current interval and returns its successful operations,
// p99 and errors.
func (r *recorder) tick() (ops int64, p99 time.Duration, errs int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops, errs = r.interval.TotalCount(), r.ivErrs
	p99 = time.Duration(r.interval.ValueAtQuantile(99)) * time.Microsecond
	r.interval.Reset()
	r.ivErrs = 0
	return ops, p99, errs
}

// errors returns the errors counted so far over every kind.
func (r *recorder) errors() ErrorCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	var e ErrorCounts
	for _, k := range r.errs {
		e.LevelNotMet += k.LevelNotMet
		e.Timeout += k.Timeout
		e.Other += k.Other
	}
	return e
}

// Latency is a latency distribution in microseconds.
type Latency struct {
	P50  int64 `json:"p50"`
	P90  int64 `json:"p90"`
	P99  int64 `json:"p99"`
	P999 int64 `json:"p999"`
	Max  int64 `json:"max"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50:  h.ValueAtQuantile(50),
		P90:  h.ValueAtQuantile(90),
		P99:  h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9),
		Max:  h.Max(),
	}
}

// OpResult is one operation kind's share of a run.
type OpResult struct {
	Op        string      `json:"op"`
	Ops       int64       `json:"ops"`
	Errors    int64       `json:"errors"`
	ErrorKind ErrorCounts `json:"errors_by_kind"`
	LatencyUS Latency     `json:"latency_us"`
}

// summary returns the latencies and counts of the whole run: over every
// kind, and per kind for the kinds the workload issued.
func (r *recorder) summary() (all Latency, ops int64, errs ErrorCounts, perKind []OpResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	merged := newHistogram()
	for k, h := range r.kinds {
		e := r.errs[k]
		if h.TotalCount() == 0 && e.Total() == 0 {
			continue
		}
		merged.Merge(h)
		errs.LevelNotMet += e.LevelNotMet
		errs.Timeout += e.Timeout
		errs.Other += e.Other
		perKind = append(perKind, OpResult{Op: OpKind(k).String(), Ops: h.TotalCount(), Errors: e.Total(), ErrorKind: e, LatencyUS: latencyOf(h)})
	}
	return latencyOf(merged), merged.TotalCount(), errs, perKind
}
