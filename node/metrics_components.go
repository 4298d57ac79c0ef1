package node

import (
	"errors"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/antientropy"
)

// Label values of the replica message and refusal families.
var (
	replicaKinds    = []string{"apply", "read"}
	replicaOutcomes = []string{"ok", "error"}
	refuseReasons   = []string{refusedType, refusedSize, refusedClockOffset}
)

// Reasons of quorumkv_objects_refused_total.
const (
	refusedType        = "type"
	refusedSize        = "size"
	refusedClockOffset = "clock_offset"
)

// componentMetrics are the families fed by the replica transport,
// anti-entropy, the purger and the coordinator's refusals, and gRPC's own.
// Families by peer have a series, at zero, for every peer the node knows
// (peers, read at scrape time) from the start.
type componentMetrics struct {
	replicaLatency *prometheus.HistogramVec
	aeDuration     prometheus.Histogram
	refused        *prometheus.CounterVec
	grpcServer     *grpcprom.ServerMetrics
	grpcClient     *grpcprom.ClientMetrics

	// peers returns the members other than this node; aePeers those it
	// shares a partition with. Set by watchComponents; tests may replace
	// them before a scrape.
	peers, aePeers func() []string
}

func newComponentMetrics(reg *prometheus.Registry) *componentMetrics {
	cm := &componentMetrics{
		replicaLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quorumkv_replica_message_duration_seconds",
			Help:    "Latency of replica messages this node sent a peer, by peer and kind (apply, read), failures included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"peer", "kind"}),
		aeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "quorumkv_anti_entropy_round_duration_seconds",
			Help:    "Duration of anti-entropy rounds with one peer (periodic, on demand and joining fills), failed ones included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quorumkv_objects_refused_total",
			Help: "Client key requests this node coordinated that it refused, by reason: type (a key of the other type), size (key, value or object over its limit), clock_offset (clock fenced, or a replica refused the timestamp).",
		}, []string{"reason"}),
		grpcServer: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram()),
		grpcClient: grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram()),
		peers:      func() []string { return nil },
		aePeers:    func() []string { return nil },
	}
	for _, r := range refuseReasons {
		cm.refused.WithLabelValues(r)
	}
	reg.MustRegister(&peerHistogram{vec: cm.replicaLatency, peers: func() []string { return cm.peers() }},
		cm.aeDuration, cm.refused, cm.grpcServer, cm.grpcClient)
	return cm
}

// observeReplicaMessage is the transport's OnMessage.
func (cm *componentMetrics) observeReplicaMessage(peer, op string, _ error, d time.Duration) {
	cm.replicaLatency.WithLabelValues(peer, op).Observe(d.Seconds())
}

// observeRound is anti-entropy's OnRound.
func (cm *componentMetrics) observeRound(r antientropy.Round, _ error) {
	cm.aeDuration.Observe(r.Duration.Seconds())
}

// refusalReason classifies a coordinator error that refused an object,
// "" for any other.
func refusalReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, replication.ErrWrongType):
		return refusedType
	case errors.Is(err, keyspace.ErrKeyTooLarge), errors.Is(err, keyspace.ErrValueTooLarge), errors.Is(err, keyspace.ErrObjectTooLarge):
		return refusedSize
	case errors.Is(err, replication.ErrClockFenced), errors.Is(err, conflict.ErrClockOffset):
		return refusedClockOffset
	}
	return ""
}

// clientDialOptions chain gRPC's client metrics on peer connections.
func (cm *componentMetrics) clientDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(cm.grpcClient.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(cm.grpcClient.StreamClientInterceptor()),
	}
}

// serverOptions chain gRPC's server metrics, outermost.
func (cm *componentMetrics) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(cm.grpcServer.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(cm.grpcServer.StreamServerInterceptor()),
	}
}

// watchComponents exports the transport's, anti-entropy's and the
// purger's counters, read at scrape time; peers and aePeers as above, now
// the wall clock.
func (m *metrics) watchComponents(t *replication.GRPCTransport, ae *antientropy.AntiEntropy, p *antientropy.Purger,
	peers, aePeers func() []string, now func() time.Time) {
	cm := m.components
	cm.peers, cm.aePeers = peers, aePeers
	m.reg.MustRegister(&transportCollector{t: t, peers: func() []string { return cm.peers() },
		messages: prometheus.NewDesc("quorumkv_replica_messages_total",
			"Replica messages this node sent a peer, by peer, kind (apply, read) and outcome (ok, error: unreachable, refused, reply lost or timed out).",
			[]string{"peer", "kind", "outcome"}, nil),
		reconnects: prometheus.NewDesc("quorumkv_peer_stream_reconnects_total",
			"Replica streams to a peer opened again after one had been open.", []string{"peer"}, nil)})
	m.reg.MustRegister(&aeCollector{ae: ae, peers: func() []string { return cm.aePeers() }, now: now,
		rounds: prometheus.NewDesc("quorumkv_anti_entropy_rounds_total",
			"Anti-entropy rounds with one peer, by outcome (ok, failed).", []string{"outcome"}, nil),
		lag: prometheus.NewDesc("quorumkv_anti_entropy_seconds_since_last_round",
			"Seconds since the last successful anti-entropy round with each peer sharing a partition (since start before the first).", []string{"peer"}, nil)})
	counter := func(name, help string, f func() uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
	}
	counter("quorumkv_anti_entropy_partitions_compared_total", "Partitions whose Merkle roots anti-entropy compared with a peer.",
		func() uint64 { return ae.Stats().PartitionsCompared })
	counter("quorumkv_anti_entropy_keys_exchanged_total", "Objects anti-entropy fetched from or pushed to a peer.",
		func() uint64 { return ae.Stats().KeysExchanged })
	counter("quorumkv_anti_entropy_exchanged_bytes_total", "Bytes of anti-entropy messages both ways and of the objects pushed.",
		func() uint64 { return ae.Stats().BytesExchanged })
	counter("quorumkv_anti_entropy_oversized_skipped_total", "Keys an anti-entropy round skipped because the peer could not send the object in one response.",
		ae.OversizedSkipped)
	counter("quorumkv_tombstones_purged_total", "Tombstones removed once every replica confirmed it after the grace period.", p.Purged)
}

// watchHintTargets exports the bytes of the hints held for each peer,
// read from storage at scrape time (a walk over that peer's hints only:
// there are some only while it is or was down).
func (m *metrics) watchHintTargets(hintBytes func(target string) (int64, error)) {
	cm := m.components
	m.reg.MustRegister(&hintTargetsCollector{hintBytes: hintBytes, peers: func() []string { return cm.peers() },
		desc: prometheus.NewDesc("quorumkv_hints_pending_bytes",
			"Bytes of the hints waiting for delivery to each member (their keys and stored objects), by target.", []string{"target"}, nil)})
}

// hintTargetsCollector exports the hint bytes by target.
type hintTargetsCollector struct {
	hintBytes func(string) (int64, error)
	peers     func() []string
	desc      *prometheus.Desc
}

func (hc *hintTargetsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- hc.desc }

func (hc *hintTargetsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range hc.peers() {
		n, err := hc.hintBytes(p)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(hc.desc, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(hc.desc, prometheus.GaugeValue, float64(n), p)
	}
}

// peerHistogram is a histogram by peer and kind with a series for every
// known peer, zero included.
type peerHistogram struct {
	vec   *prometheus.HistogramVec
	peers func() []string
}

func (h *peerHistogram) Describe(ch chan<- *prometheus.Desc) { h.vec.Describe(ch) }

func (h *peerHistogram) Collect(ch chan<- prometheus.Metric) {
	for _, p := range h.peers() {
		for _, k := range replicaKinds {
			h.vec.WithLabelValues(p, k)
		}
	}
	h.vec.Collect(ch)
}

// transportCollector exports the transport's counters by peer.
type transportCollector struct {
	t                    *replication.GRPCTransport
	peers                func() []string
	messages, reconnects *prometheus.Desc
}

func (tc *transportCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tc.messages
	ch <- tc.reconnects
}

func (tc *transportCollector) Collect(ch chan<- prometheus.Metric) {
	stats := map[string]replication.PeerStats{}
	for _, s := range tc.t.Stats() {
		stats[s.Peer] = s
	}
	for _, p := range tc.peers() {
		if _, ok := stats[p]; !ok {
			stats[p] = replication.PeerStats{Peer: p}
		}
	}
	for p, s := range stats {
		values := [][2]uint64{{s.ApplyOK, s.ApplyErrors}, {s.ReadOK, s.ReadErrors}}
		for i, k := range replicaKinds {
			for j, o := range replicaOutcomes {
				ch <- prometheus.MustNewConstMetric(tc.messages, prometheus.CounterValue, float64(values[i][j]), p, k, o)
			}
		}
		ch <- prometheus.MustNewConstMetric(tc.reconnects, prometheus.CounterValue, float64(s.Reconnects), p)
	}
}

// aeCollector exports the anti-entropy rounds by outcome and the lag by
// peer.
type aeCollector struct {
	ae          *antientropy.AntiEntropy
	peers       func() []string
	now         func() time.Time
	rounds, lag *prometheus.Desc
}

func (ac *aeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ac.rounds
	ch <- ac.lag
}

func (ac *aeCollector) Collect(ch chan<- prometheus.Metric) {
	s := ac.ae.Stats()
	ch <- prometheus.MustNewConstMetric(ac.rounds, prometheus.CounterValue, float64(s.RoundsOK), "ok")
	ch <- prometheus.MustNewConstMetric(ac.rounds, prometheus.CounterValue, float64(s.RoundsFailed), "failed")
	last := map[string]time.Time{}
	for _, r := range ac.ae.Last() {
		last[r.Peer] = r.Time
	}
	now := ac.now()
	for _, p := range ac.peers() {
		at, ok := last[p]
		if !ok {
			at = ac.ae.Started()
		}
		ch <- prometheus.MustNewConstMetric(ac.lag, prometheus.GaugeValue, max(now.Sub(at).Seconds(), 0), p)
	}
}

// peerIDs returns the members other than this node that take part in the
// ring (not left or removed), for the families by peer.
func (n *node) peerIDs() []string {
	var out []string
	for _, m := range n.memberList() {
		if m.ID != n.cfg.NodeID && m.State != ring.Left && m.State != ring.Removed {
			out = append(out, m.ID)
		}
	}
	return out
}
