package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quorumkv/quorumkv/resp"
)

// respMetrics are the RESP listener's families; every command and
// outcome is created up front, at zero, also when the listener is off.
type respMetrics struct {
	conns    prometheus.Gauge
	commands *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

var _ resp.Observer = (*respMetrics)(nil)

func newRESPMetrics(reg *prometheus.Registry) *respMetrics {
	m := &respMetrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quorumkv_resp_connections",
			Help: "Open connections of the Redis protocol listener (--resp-addr).",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quorumkv_resp_commands_total",
			Help: "Redis protocol commands, by command (unknown for one the listener does not know) and outcome (ok, invalid, wrong_type, level_not_met, siblings, not_permitted, other).",
		}, []string{"command", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quorumkv_resp_command_duration_seconds",
			Help:    "Latency of Redis protocol commands, by command, from read to reply written to the connection's buffer.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18),
		}, []string{"command"}),
	}
	for _, name := range append(resp.CommandNames(), "unknown") {
		m.latency.WithLabelValues(name)
		for _, o := range resp.Outcomes {
			m.commands.WithLabelValues(name, o)
		}
	}
	reg.MustRegister(m.conns, m.commands, m.latency)
	return m
}

func (m *respMetrics) Connections(delta int) { m.conns.Add(float64(delta)) }

func (m *respMetrics) Command(name, outcome string, seconds float64) {
	m.commands.WithLabelValues(name, outcome).Inc()
	m.latency.WithLabelValues(name).Observe(seconds)
}
