package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// hearing remembers when memberlist last heard from each peer directly (a
// probe it sent was acknowledged), so that Members can report a peer
// suspect as soon as memberlist stops hearing from it: memberlist v0.7.0
// keeps its own suspicion state private.
//
// memberlist probes its peers round robin, one per ProbeInterval, in an
// order shuffled every round, so between two probes of a peer it probes at
// most 2(k-1) others (k peers). A peer is suspect when, since its last
// acknowledgement, more than 2(k-1) probes of others were acknowledged (its
// turn came and its probe failed), counted in probes so that a slow or
// loaded node does not suspect its peers; or, for a node with one peer or
// whose probes all fail, when it has not been heard for 2k+1 probe
// intervals plus the probe timeout.
//
// It is safe for concurrent use; memberlist calls it from its own
// goroutines, possibly holding its node lock, so it takes no other lock.
type hearing struct {
	interval, timeout time.Duration
	now               func() time.Time

	mu   sync.Mutex
	acks uint64           // direct probes acknowledged so far, of any peer
	last map[string]heard // per peer
}

// heard is when a peer was last heard, and the probe count then.
type heard struct {
	at   time.Time
	acks uint64
}

func newHearing(interval, timeout time.Duration, now func() time.Time) *hearing {
	return &hearing{interval: interval, timeout: timeout, now: now, last: map[string]heard{}}
}

// ack records that a probe of id was acknowledged.
func (h *hearing) ack(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.acks++
	h.last[id] = heard{at: h.now(), acks: h.acks}
}

// seen records that id (re)joined: it counts as heard now.
func (h *hearing) seen(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last[id] = heard{at: h.now(), acks: h.acks}
}

// forget drops id, which memberlist declared dead or left.
func (h *hearing) forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.last, id)
}

// suspect reports whether live peer id, one of peers live peers, has not
// been heard from as often as probing it requires. A peer never heard of
// counts as heard now.
func (h *hearing) suspect(id string, peers int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	l, ok := h.last[id]
	if !ok {
		h.last[id] = heard{at: now, acks: h.acks}
		return false
	}
	peers = max(peers, 1)
	if peers > 1 && h.acks-l.acks > uint64(2*(peers-1)) {
		return true
	}
	return now.Sub(l.at) > time.Duration(2*peers+1)*h.interval+h.timeout
}

// hearingDelegate feeds hearing from memberlist's event hooks; acks of
// direct probes reach it through the ping delegate (delegate's
// NotifyPingComplete), which memberlist allows only one of.
type hearingDelegate struct{ h *hearing }

var _ memberlist.EventDelegate = hearingDelegate{}

// NotifyJoin is called when a node joins or comes back from dead.
func (d hearingDelegate) NotifyJoin(n *memberlist.Node) { d.h.seen(n.Name) }

// NotifyLeave is called when a node is declared dead or left.
func (d hearingDelegate) NotifyLeave(n *memberlist.Node) { d.h.forget(n.Name) }

// NotifyUpdate is called when a node's metadata changed.
func (d hearingDelegate) NotifyUpdate(n *memberlist.Node) { d.h.seen(n.Name) }
