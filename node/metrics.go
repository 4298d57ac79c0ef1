package node

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// metrics is a node's Prometheus registry; one per node, no globals, so
// several nodes run in one test process. Every family is exported from the
// start, at zero: labelled families have each label combination created up
// front (README.md lists them; TestMetricsDoc keeps the list current).
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	quorumFailures *prometheus.CounterVec
	siblingReads   prometheus.Counter
	siblings       prometheus.Counter
	commits        prometheus.Counter
	batchSize      prometheus.Histogram
	flushKeys      prometheus.Histogram
	// partitionsDropped counts the hand-off drops (drop.go).
	partitionsDropped prometheus.Counter
	components        *componentMetrics
	resp              *respMetrics
}

// Label values of the client request families.
var (
	requestOps      = []string{"get", "put", "delete", "sadd", "srem", "smembers"}
	requestLevels   = []string{"one", "quorum", "all"}
	requestOutcomes = []string{outcomeOK, outcomeNotFound, outcomeLevelNotMet, outcomeInvalid, outcomeNotPermitted, outcomeTimeout, outcomeOther}
	quorumKinds     = []string{"read", "write"}
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quorumkv_client_requests_total",
			Help: "Client key requests coordinated by this node, by operation, consistency level and outcome (ok, not_found, level_not_met, invalid, not_permitted, timeout, other).",
		}, []string{"op", "level", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quorumkv_client_request_duration_seconds",
			Help:    "Latency of client key requests coordinated by this node, by operation and consistency level.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"op", "level"}),
		quorumFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quorumkv_quorum_failures_total",
			Help: "Reads and writes that did not reach their consistency level, by level and kind (read, write).",
		}, []string{"level", "kind"}),
		siblingReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quorumkv_sibling_reads_total",
			Help: "Gets coordinated by this node that answered with more than one sibling (concurrent writes under --conflict siblings).",
		}),
		siblings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quorumkv_siblings_returned_total",
			Help: "Sibling values returned by those gets.",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quorumkv_storage_commits_total",
			Help: "Fdatasyncs of the commit log (each makes a group of writes durable).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "quorumkv_storage_commit_writes",
			Help:    "Writes made durable by one fdatasync of the commit log (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		flushKeys: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "quorumkv_storage_flush_keys",
			Help:    "Keys written to the data file by one batched flush of the commit log's records.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		partitionsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quorumkv_ring_partitions_dropped_total",
			Help: "Partitions this node dropped after a ring change took them from it, once every alive member acknowledged and a last anti-entropy exchange found nothing to hand over.",
		}),
	}
	for _, op := range requestOps {
		for _, level := range requestLevels {
			m.latency.WithLabelValues(op, level)
			for _, outcome := range requestOutcomes {
				m.requests.WithLabelValues(op, level, outcome)
			}
		}
	}
	for _, level := range requestLevels {
		for _, kind := range quorumKinds {
			m.quorumFailures.WithLabelValues(level, kind)
		}
	}
	m.reg.MustRegister(m.requests, m.latency, m.quorumFailures, m.siblingReads, m.siblings, m.commits, m.batchSize, m.flushKeys, m.partitionsDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.components = newComponentMetrics(m.reg)
	m.resp = newRESPMetrics(m.reg)
	return m
}

func (m *metrics) observeFlush(keys int) { m.flushKeys.Observe(float64(keys)) }

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
	gauge("quorumkv_hidden_parts", "Objects whose part of the other type stays stored, hidden by the part they read as.", func(s storage.Stats) float64 { return float64(s.HiddenParts) })
	gauge("quorumkv_hints_pending", "Hints waiting for delivery.", func(s storage.Stats) float64 { return float64(s.HintsPending) })
	gauge("quorumkv_storage_bytes", "Size of the data file.", func(s storage.Stats) float64 { return float64(s.StorageBytes) })
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumkv_storage_live_bytes",
		Help: "Bytes of the data file that hold data; the rest are free pages, given back by kvctl compact on the stopped node."}, func() float64 {
		sp, err := e.Space()
		if err != nil {
			return 0 // storage closed
		}
		return float64(sp.LiveBytes)
	}))
	m.watchHintTargets(e.HintBytes)
}

// watchCoordinator exports the coordinator's hinted handoff and read
// repair counters.
func (m *metrics) watchCoordinator(c *replication.Coordinator) {
	counter := func(name, help string, f func(replication.HintStats) uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
			return float64(f(c.HintStats()))
		}))
	}
	counter("quorumkv_hints_written_total", "Hints stored for replicas that missed a write.", func(s replication.HintStats) uint64 { return s.Written })
	counter("quorumkv_hints_delivered_total", "Hints delivered to their replica.", func(s replication.HintStats) uint64 { return s.Delivered })
	counter("quorumkv_hints_refused_total", "Hint deliveries the target refused for that hint alone; the hint stays and the others are still delivered.", func(s replication.HintStats) uint64 { return s.Refused })
	counter("quorumkv_hints_over_budget_total", "Writes a replica missed that left no hint because the target's hints were at their byte budget.", func(s replication.HintStats) uint64 { return s.OverBudget })
	counter("quorumkv_hints_dropped_total", "Hints dropped because their replica was down longer than --max-hint-window, or refused them for clock offset.", func(s replication.HintStats) uint64 { return s.Dropped })
	counter("quorumkv_hints_clock_refused_total", "Hints dropped because their replica refused them for clock offset.", func(s replication.HintStats) uint64 { return s.ClockRefused })
	m.reg.MustRegister(&repairCollector{c: c, desc: prometheus.NewDesc("quorumkv_read_repairs_total",
		"Replica copies brought up to date by read repair: blocking (QUORUM and ALL reads, before answering) or background (after ONE reads).",
		[]string{"mode"}, nil)})
}

// watchFence exports the clock fence's state, read at scrape time.
func (m *metrics) watchFence(f *replication.ClockFence) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumkv_clock_fenced",
		Help: "1 while this node's clock is fenced: too far from the median of the alive members' clocks, or not yet measured; it stamps no writes and is not ready."},
		func() float64 {
			if f.State().Fenced {
				return 1
			}
			return 0
		}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumkv_clock_offset_seconds",
		Help: "This node's wall clock minus the median of the alive members' clocks, as measured."},
		func() float64 { return f.State().Offset.Seconds() }))
}

// watchMembership exports the members by liveness and ring state, this
// node's ownership and the partitions moving, read at scrape time from
// members (nil before membership started) and loadRing (nil before the
// node joined).
func (m *metrics) watchMembership(self string, members func() *cluster.Membership, loadRing func() *ring.Ring) {
	m.reg.MustRegister(&membersCollector{members: members, desc: prometheus.NewDesc("quorumkv_members",
		"Members of the cluster as this node sees them, by liveness (alive, suspect, dead) and ring state (joining, normal, leaving, left, removed).",
		[]string{"liveness", "ring_state"}, nil)})
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "quorumkv_ownership_ratio",
		Help: "This node's share of the ring: the partitions it replicates over all partitions, divided by the replication factor (0 before it joined).",
	}, func() float64 {
		if r := loadRing(); r != nil {
			return r.Ownership(self)
		}
		return 0
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "quorumkv_partitions_moving",
		Help: "Partitions with a replica being filled (joining nodes it moves to), in this node's view of the ring.",
	}, func() float64 {
		r := loadRing()
		if r == nil {
			return 0
		}
		n := 0
		for p := range r.Q() {
			if len(r.Pending(p)) > 0 {
				n++
			}
		}
		return float64(n)
	}))
}

// repairCollector exports the coordinator's read repair counters.
type repairCollector struct {
	c    *replication.Coordinator
	desc *prometheus.Desc
}

func (rc *repairCollector) Describe(ch chan<- *prometheus.Desc) { ch <- rc.desc }

func (rc *repairCollector) Collect(ch chan<- prometheus.Metric) {
	s := rc.c.RepairStats()
	ch <- prometheus.MustNewConstMetric(rc.desc, prometheus.CounterValue, float64(s.Blocking), "blocking")
	ch <- prometheus.MustNewConstMetric(rc.desc, prometheus.CounterValue, float64(s.Background), "background")
}

// membersCollector counts the members by liveness and ring state, every
// combination exported, zero included.
type membersCollector struct {
	members func() *cluster.Membership
	desc    *prometheus.Desc
}

var (
	livenesses = []string{cluster.LivenessAlive, cluster.LivenessSuspect, cluster.LivenessDead}
	ringStates = []ring.State{ring.Joining, ring.Normal, ring.Leaving, ring.Left, ring.Removed}
)

func (mc *membersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- mc.desc }

func (mc *membersCollector) Collect(ch chan<- prometheus.Metric) {
	count := map[[2]string]int{}
	if ms := mc.members(); ms != nil {
		for _, s := range ms.Members() {
			count[[2]string{s.Liveness, s.State.String()}]++
		}
	}
	for _, l := range livenesses {
		for _, st := range ringStates {
			ch <- prometheus.MustNewConstMetric(mc.desc, prometheus.GaugeValue, float64(count[[2]string{l, st.String()}]), l, st.String())
		}
	}
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
