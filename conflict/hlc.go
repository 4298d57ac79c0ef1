package conflict

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: wall time in nanoseconds
// since the Unix epoch and a logical counter that orders events within the
// same wall time.
type Timestamp struct {
	Wall    int64
	Logical uint32
}

// Compare orders timestamps by wall time, then logical counter.
func (t Timestamp) Compare(o Timestamp) int {
	if c := cmp.Compare(t.Wall, o.Wall); c != 0 {
		return c
	}
	return cmp.Compare(t.Logical, o.Logical)
}

// Less reports whether t is before o.
func (t Timestamp) Less(o Timestamp) bool { return t.Compare(o) < 0 }

// IsZero reports whether t is the zero timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Time returns the wall part as a time.Time.
func (t Timestamp) Time() time.Time { return time.Unix(0, t.Wall) }

// String formats the timestamp as wall.logical.
func (t Timestamp) String() string { return fmt.Sprintf("%d.%d", t.Wall, t.Logical) }

// ErrClockOffset is returned when a timestamp is further ahead of the local
// wall clock than the maximum clock offset allows.
var ErrClockOffset = errors.New("timestamp too far ahead of the local clock")

// WallClock returns the current wall time. Tests inject their own. The
// node gives one WallClock to the HLC and to every rule that reads time
// (replication.Clock is this type), so skewing it skews them alike. The
// zero WallClock (nil) is the real clock.
type WallClock func() time.Time

// Now returns the time of w; time.Now() when w is nil.
func (w WallClock) Now() time.Time {
	if w == nil {
		return time.Now()
	}
	return w()
}

// Clock is a hybrid logical clock (Kulkarni et al.): it never runs
// backwards, stays close to the wall clock, and moves past every timestamp
// it is shown, refusing those more than MaxOffset ahead of its wall clock.
// It is safe for concurrent use.
type Clock struct {
	wall      WallClock
	maxOffset time.Duration

	mu   sync.Mutex
	last Timestamp
}

// NewClock returns a clock reading wall (time.Now when nil) that refuses
// timestamps more than maxOffset ahead of it.
func NewClock(wall WallClock, maxOffset time.Duration) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{wall: wall, maxOffset: maxOffset}
}

// MaxOffset returns the largest offset ahead of the wall clock accepted.
func (c *Clock) MaxOffset() time.Duration { return c.maxOffset }

// Now returns a timestamp later than every timestamp this clock returned or
// was updated with.
func (c *Clock) Now() Timestamp {
	w := c.wall().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case w > c.last.Wall:
		c.last = Timestamp{Wall: w}
	case c.last.Logical == math.MaxUint32:
		// The logical counter is full (a peer may send any value): move
		// to the next nanosecond rather than wrap below c.last.
		c.last = Timestamp{Wall: c.last.Wall + 1}
	default:
		c.last.Logical++
	}
	return c.last
}

// Beyond reports whether ts is more than MaxOffset ahead of the wall clock:
// a timestamp Update refuses.
func (c *Clock) Beyond(ts Timestamp) bool {
	w := c.wall().UnixNano()
	return ts.Wall > w && time.Duration(ts.Wall-w) > c.maxOffset
}

// Update moves the clock past ts, so that later readings are above it. It
// returns an error wrapping ErrClockOffset, and changes nothing, when ts is
// more than MaxOffset ahead of the wall clock.
func (c *Clock) Update(ts Timestamp) error {
	w := c.wall().UnixNano()
	// ts.Wall > w first: ts.Wall-w overflows for a far-past ts.Wall.
	if ahead := time.Duration(ts.Wall - w); ts.Wall > w && ahead > c.maxOffset {
		return fmt.Errorf("%w: %v ahead, the limit is %v (--max-clock-offset)", ErrClockOffset, ahead.Round(time.Millisecond), c.maxOffset)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.Less(ts) {
		c.last = ts
	}
	return nil
}

// NowAbove returns a timestamp later than ts and every earlier reading, or
// an ErrClockOffset error if ts is too far ahead.
func (c *Clock) NowAbove(ts Timestamp) (Timestamp, error) {
	if err := c.Update(ts); err != nil {
		return Timestamp{}, err
	}
	return c.Now(), nil
}
