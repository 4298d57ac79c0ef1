package replication

import "github.com/quorumkv/quorumkv/conflict"

// Clock reads the node's wall clock. It is the HLC's conflict.WallClock:
// one clock is given to every component that reads time for a rule, the
// hybrid logical clock (conflict.NewClock), the hint window and hint
// timestamps, the transport's backoffs, the tombstone grace rule and purge
// age, and anti-entropy's round times and rate limits, so a test that
// skews it (a clock offset) skews them all alike. Tickers and timers that
// only pace loops use the runtime's clock.
//
// The zero Clock (nil) is the real clock: a Config field of type Clock
// left unset needs no default. Clock.Now may be called concurrently.
type Clock = conflict.WallClock
