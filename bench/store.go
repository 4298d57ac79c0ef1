package bench

import "context"

// Store is what the runner sends operations to. Every method is called from
// many goroutines at once, blocks until the cluster answered or ctx ended,
// and must not keep the slices it is given.
type Store interface {
	// Get reads a register key and returns the read's context token (also
	// for a missing key).
	Get(ctx context.Context, key []byte) (token []byte, err error)
	// Put writes a register key; with a non-empty token, as a
	// read-modify-write of the read that returned it.
	Put(ctx context.Context, key, value, token []byte) error
	// SAdd adds member to a set key.
	SAdd(ctx context.Context, key, member []byte) error
}
