package node

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// metrics is a node's Prometheus registry; one per node, no globals, so
// several nodes run in one test process.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	commits   prometheus.Counter
	batchSize prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quorumkv_requests_total",
			Help: "Client requests served, by method and gRPC code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quorumkv_request_duration_seconds",
			Help:    "Client request latency, by method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"method"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quorumkv_storage_commits_total",
			Help: "Durable (fsync'd) storage transactions.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "quorumkv_storage_commit_writes",
			Help:    "Writes covered by one durable storage commit (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.commits, m.batchSize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeCommit(writes int) {
	m.commits.Inc()
	m.batchSize.Observe(float64(writes))
}

// watchStorage exports the engine's counters, read at scrape time.
func (m *metrics) watchStorage(e *storage.Engine) {
	gauge := func(name, help string, f func(storage.Stats) float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			return f(e.Stats())
		}))
	}
	gauge("quorumkv_keys", "Objects with a live sibling or member.", func(s storage.Stats) float64 { return float64(s.Keys) })
	gauge("quorumkv_tombstones", "Objects with nothing live.", func(s storage.Stats) float64 { return float64(s.Tombstones) })
	gauge("quorumkv_hints_pending", "Hints waiting for delivery.", func(s storage.Stats) float64 { return float64(s.HintsPending) })
	gauge("quorumkv_storage_bytes", "Size of the data file.", func(s storage.Stats) float64 { return float64(s.StorageBytes) })
}

// watchCoordinator exports the hinted handoff counters.
func (m *metrics) watchCoordinator(c *replication.Coordinator) {
	counter := func(name, help string, f func(replication.HintStats) uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			return float64(f(c.HintStats()))
		}))
	}
	counter("quorumkv_hints_written_total", "Hints stored for replicas that missed a write.", func(s replication.HintStats) uint64 { return s.Written })
	counter("quorumkv_hints_delivered_total", "Hints delivered to their replica.", func(s replication.HintStats) uint64 { return s.Delivered })
	counter("quorumkv_hints_dropped_total", "Hints dropped because their replica was down longer than --max-hint-window.", func(s replication.HintStats) uint64 { return s.Dropped })
}

func (m *metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	method := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	m.requests.WithLabelValues(method, status.Code(err).String()).Inc()
	m.latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
	return resp, err
}

// httpHandler serves /metrics, /healthz (the process is up), /readyz (the
// node takes requests) and, with --pprof, /debug/pprof/.
func (n *node) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", n.readyz)
	if n.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
