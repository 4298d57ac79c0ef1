package storage

import "errors"

// ErrFatal is matched by the error a durable write returns when the
// node's own log write or fsync failed: what is in memory may be ahead of
// what is on disk, and nothing is rolled back, so the node must stop
// (a restart replays the log and renews the node's actor).
var ErrFatal = errors.New("storage: durable write failed; the node must stop")
