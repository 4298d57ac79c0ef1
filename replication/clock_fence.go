package replication

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// ClockFencedError is the refusal of a write by a fenced node: Reason
// says why, in one line.
type ClockFencedError struct {
	Node   string
	Reason string
	// Replicas are the replicas of the refused write's key, to one of
	// which it may be forwarded; set by the coordinator.
	Replicas []string
}

func (e *ClockFencedError) Error() string {
	return fmt.Sprintf("clock fenced: %s does not stamp writes: %s", e.Node, e.Reason)
}

// Is matches ErrClockFenced.
func (e *ClockFencedError) Is(target error) bool { return target == ErrClockFenced }

// ClockFenceConfig configures a ClockFence.
type ClockFenceConfig struct {
	// NodeID names this node in errors and logs.
	NodeID string
	// MaxOffset is the cluster's --max-clock-offset; the node is fenced
	// when its clock is more than 0.8 x MaxOffset from the median of the
	// alive members' clocks. Required, positive.
	MaxOffset time.Duration
	// Alive returns the ids of the alive members other than this node.
	// Nil means none: the node is alone and never fenced.
	Alive func() []string
	// MaxAge is how long an offset measurement counts. Zero means 30s.
	MaxAge time.Duration
	// Now is the local clock measurements are aged by (not the wall clock
	// whose offset is measured); nil means time.Now.
	Now func() time.Time
	// Logger receives the fence's changes; nil discards.
	Logger *slog.Logger
}

// clockSample is the latest offset measured to one peer.
type clockSample struct {
	offset time.Duration // the peer's wall clock minus ours
	at     time.Time     // when it was measured (cfg.Now)
}

// ClockFence decides whether this node may stamp writes: it is fed the
// offsets of its peers' wall clocks (Observe, from replica replies and
// gossip probes) and the refusals of its timestamps (Refused), and Check
// answers from them. It is safe for concurrent use.
type ClockFence struct {
	cfg ClockFenceConfig

	mu        sync.Mutex
	samples   map[string]clockSample
	refusedAt time.Time // the last refusal of our timestamps; zero: none
	refusedBy string
	lastState FenceState // for the log line of a change
}

// NewClockFence returns a fence; it starts fenced (unless the node is
// alone or has fewer than three clocks to compare) until measurements
// against a majority of the alive members clear it.
func NewClockFence(cfg ClockFenceConfig) (*ClockFence, error) {
	if cfg.MaxOffset <= 0 {
		return nil, fmt.Errorf("clock fence: max offset %v: must be positive", cfg.MaxOffset)
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &ClockFence{cfg: cfg, samples: map[string]clockSample{}}, nil
}

// Observe records a measurement of peer's clock: offset is its wall clock
// minus this node's, estimated at the middle of a round trip.
func (f *ClockFence) Observe(peer string, offset time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samples[peer] = clockSample{offset: offset, at: f.cfg.Now()}
}

// ObserveRoundTrip records the wall time peerWall a peer sent in its reply
// to a request sent at sent and answered at recv (this node's wall clock):
// the offset is peerWall - (sent+recv)/2.
func (f *ClockFence) ObserveRoundTrip(peer string, peerWall, sent, recv time.Time) {
	if peerWall.IsZero() || recv.Before(sent) {
		return
	}
	mid := sent.Add(recv.Sub(sent) / 2)
	f.Observe(peer, peerWall.Sub(mid))
}

// Refused records that peer refused a timestamp this node stamped as
// beyond its wall clock + max offset, and reports whether this node is to
// blame. It is, and is fenced at once until measurements taken after this
// clear it, unless the measurements say that peer's clock is the one
// behind: more than 0.8 x MaxOffset behind the median of the alive
// members' clocks, while this node's is within it. A slow replica thus
// fences itself (by the median), not every healthy coordinator it refuses.
func (f *ClockFence) Refused(peer string) (self bool) {
	if f.PeerBehind(peer) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refusedAt, f.refusedBy = f.cfg.Now(), peer
	return true
}

// PeerBehind reports whether peer's clock is known to run behind: this
// node is not fenced, and a measurement that counts puts peer's clock more
// than 0.8 x MaxOffset behind the median of the alive members' clocks.
// Such a peer refuses timestamps that are right.
func (f *ClockFence) PeerBehind(peer string) bool {
	st := f.State()
	if st.Fenced {
		return false
	}
	now := f.cfg.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.samples[peer]
	return ok && f.countsLocked(s, now) && s.offset+st.Offset < -f.cfg.MaxOffset*8/10
}

// countsLocked reports whether a measurement counts at now: it is not older
// than MaxAge, and it was taken after the last refusal of our timestamps.
func (f *ClockFence) countsLocked(s clockSample, now time.Time) bool {
	return now.Sub(s.at) <= f.cfg.MaxAge && (f.refusedAt.IsZero() || s.at.After(f.refusedAt))
}

// FenceState is what Check found.
type FenceState struct {
	// Fenced: the node does not stamp writes and is not ready.
	Fenced bool
	// Reason words why, in one line; also set when not fenced but the
	// node's clock is off and too few clocks are known to fence it.
	Reason string
	// Offset is this node's clock minus the median of the alive members'
	// clocks, as far as measured.
	Offset time.Duration
	// Measured counts the alive peers with a measurement that counts.
	Measured int
}

// Check returns the error a write must fail with when the node is fenced,
// nil when it may stamp.
func (f *ClockFence) Check() error {
	if s := f.State(); s.Fenced {
		return &ClockFencedError{Node: f.cfg.NodeID, Reason: s.Reason}
	}
	return nil
}

// State decides from the measurements of the alive peers.
func (f *ClockFence) State() FenceState {
	var alive []string
	if f.cfg.Alive != nil {
		alive = f.cfg.Alive()
	}
	now := f.cfg.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	var offsets []time.Duration
	for _, id := range alive {
		s, ok := f.samples[id]
		if !ok || !f.countsLocked(s, now) {
			continue
		}
		offsets = append(offsets, s.offset)
	}
	st := fenceDecision(f.cfg.MaxOffset, len(alive)+1, offsets, !f.refusedAt.IsZero(), f.refusedBy)
	if st.Fenced != f.lastState.Fenced || (st.Reason != "" && f.lastState.Reason == "") {
		f.log(st)
	}
	f.lastState = st
	return st
}

func (f *ClockFence) log(st FenceState) {
	switch {
	case st.Fenced:
		f.cfg.Logger.Warn("clock fenced: not stamping writes, not ready", "reason", st.Reason, "offset", st.Offset, "measured_peers", st.Measured)
	case st.Reason != "":
		f.cfg.Logger.Warn("clock offset", "reason", st.Reason, "offset", st.Offset, "measured_peers", st.Measured)
	default:
		f.cfg.Logger.Info("clock in agreement with the cluster: stamping writes", "offset", st.Offset, "measured_peers", st.Measured)
	}
}

// fenceDecision is the fence rule (DESIGN.md, Clocks): clocks is the
// number of alive members, this node included; offsets are the measured
// offsets (peer minus self) of the alive peers; refused says a refusal of
// our timestamps has not been cleared by measurements since (only those
// are in offsets then).
func fenceDecision(maxOffset time.Duration, clocks int, offsets []time.Duration, refused bool, refusedBy string) FenceState {
	limit := maxOffset * 8 / 10
	all := append([]time.Duration{0}, offsets...)
	slices.Sort(all)
	var median time.Duration
	if n := len(all); n%2 == 1 {
		median = all[n/2]
	} else {
		median = all[n/2-1] + (all[n/2]-all[n/2-1])/2
	}
	st := FenceState{Offset: -median, Measured: len(offsets)}
	off := st.Offset
	if off < 0 {
		off = -off
	}
	if clocks < 3 {
		if off > limit {
			st.Reason = fmt.Sprintf("clock %v from the median of %d clocks, more than 0.8 x --max-clock-offset (%v); fewer than three clocks: not fencing",
				st.Offset.Round(time.Millisecond), len(all), maxOffset)
		}
		return st
	}
	majority := clocks/2 + 1
	switch {
	case len(all) < majority && refused:
		st.Fenced = true
		st.Reason = fmt.Sprintf("%s refused this node's timestamp as beyond its clock + --max-clock-offset; waiting for fresh clock measurements (%d of %d clocks measured)",
			refusedBy, len(all), clocks)
	case len(all) < majority:
		st.Fenced = true
		st.Reason = fmt.Sprintf("clock offset measured against %d of %d alive members, not yet a majority", len(all), clocks)
	case off > limit:
		st.Fenced = true
		st.Reason = fmt.Sprintf("clock %v from the median of %d clocks, more than 0.8 x --max-clock-offset (%v)",
			st.Offset.Round(time.Millisecond), len(all), maxOffset)
	}
	return st
}
