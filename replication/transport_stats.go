package replication

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"
)

// PeerStats counts the replica messages a GRPCTransport sent one peer since
// it started, by kind and outcome (an error is any failure: unreachable,
// refused, lost reply, the caller's deadline), and how many times a
// stream to it was reopened after one had been open.
type PeerStats struct {
	Peer                 string
	ApplyOK, ApplyErrors uint64
	ReadOK, ReadErrors   uint64
	Reconnects           uint64
}

// peerCounters are the atomic counters behind a PeerStats.
type peerCounters struct {
	applyOK, applyErr, readOK, readErr, reconnects atomic.Uint64
}

// count records the outcome of one message of op ("apply" or "read").
func (pc *peerCounters) count(op string, err error) {
	switch {
	case op == "apply" && err == nil:
		pc.applyOK.Add(1)
	case op == "apply":
		pc.applyErr.Add(1)
	case err == nil:
		pc.readOK.Add(1)
	default:
		pc.readErr.Add(1)
	}
}

// Stats returns the counters of every peer the transport has sent to,
// sorted by peer, for metrics. The caller owns the slice.
func (t *GRPCTransport) Stats() []PeerStats {
	var out []PeerStats
	t.peers.Range(func(k, v any) bool {
		c := &v.(*grpcPeer).counters
		out = append(out, PeerStats{Peer: k.(string),
			ApplyOK: c.applyOK.Load(), ApplyErrors: c.applyErr.Load(),
			ReadOK: c.readOK.Load(), ReadErrors: c.readErr.Load(),
			Reconnects: c.reconnects.Load()})
		return true
	})
	slices.SortFunc(out, func(a, b PeerStats) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}

// observe counts a message of op to peer, started at start, whose
// outcome is *errp, and hands its latency to cfg.OnMessage; a peer the
// transport never knew (not resolved) is left out.
func (t *GRPCTransport) observe(peer, op string, start time.Time, errp *error) {
	v, ok := t.peers.Load(peer)
	if !ok {
		return
	}
	v.(*grpcPeer).counters.count(op, *errp)
	if t.cfg.OnMessage != nil {
		t.cfg.OnMessage(peer, op, *errp, time.Since(start))
	}
}
