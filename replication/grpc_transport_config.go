package replication

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// GRPCTransportConfig configures a GRPCTransport. Zero fields take the
// defaults of DefaultGRPCTransportConfig.
type GRPCTransportConfig struct {
	// StreamsPerPeer is how many Exchange streams, each on its own
	// connection (lane of the PeerConns), the transport keeps to one peer; requests are spread
	// over those that are up. Zero means 2.
	StreamsPerPeer int
	// MaxBatch bounds the operations sent in one ReplicaBatch. Zero means
	// 128.
	MaxBatch int
	// MaxBatchBytes bounds the encoded objects in one ReplicaBatch; an
	// operation larger than it goes alone. Zero means 4 MiB.
	MaxBatchBytes int
	// ConnectTimeout bounds opening a stream, connection included. Zero
	// means 2s. (The PeerConns has its own, for gRPC's connection attempts.)
	ConnectTimeout time.Duration
	// MinBackoff is how long a peer that could not be reached is left
	// alone (requests to it fail at once); each further failure doubles it,
	// up to MaxBackoff, with 20% jitter. A stream that was working and
	// breaks is reopened at the next request, without a wait. Zero means
	// 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the backoff. Zero means 5s.
	MaxBackoff time.Duration
	// Logger receives stream failures and recoveries. Nil discards.
	Logger *slog.Logger
	// Clock is this node's wall clock: it reads the time for backoffs and
	// the send and receive times given to OnPeerClock. Nil means the real
	// clock.
	Clock Clock
	// OnPeerClock, when set, is given the wall time a peer's reply batch
	// carries, with this node's wall times (Clock) when the first request
	// it answers was sent and when the batch arrived, for the clock fence.
	// It is called from the stream's receiver and must not block.
	OnPeerClock func(peer string, peerWall, sent, recv time.Time)
	// OnMessage, when set, is given every replica message's peer, op
	// ("apply" or "read"), error (nil once answered without one) and
	// latency, when its caller gets the outcome (for the latency
	// histogram; the counts are in Stats). It is called on the caller's
	// goroutine and must not block. A message to a peer the resolver does
	// not know is not reported.
	OnMessage func(peer, op string, err error, latency time.Duration)
}

// DefaultGRPCTransportConfig returns the defaults.
func DefaultGRPCTransportConfig() GRPCTransportConfig {
	return GRPCTransportConfig{
		StreamsPerPeer: 2,
		MaxBatch:       128,
		MaxBatchBytes:  4 << 20,
		ConnectTimeout: 2 * time.Second,
		MinBackoff:     100 * time.Millisecond,
		MaxBackoff:     5 * time.Second,
	}
}

// Validate reports the first unusable setting. Zero fields are usable.
func (c GRPCTransportConfig) Validate() error {
	switch {
	case c.StreamsPerPeer < 0:
		return fmt.Errorf("grpc transport: streams per peer is %d: must not be negative", c.StreamsPerPeer)
	case c.MaxBatch < 0:
		return fmt.Errorf("grpc transport: max batch is %d: must not be negative", c.MaxBatch)
	case c.MaxBatchBytes < 0:
		return fmt.Errorf("grpc transport: max batch bytes is %d: must not be negative", c.MaxBatchBytes)
	case c.ConnectTimeout < 0, c.MinBackoff < 0, c.MaxBackoff < 0:
		return errors.New("grpc transport: connect timeout and backoffs must not be negative")
	case c.MaxBackoff != 0 && c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("grpc transport: max backoff %v is below min backoff %v", c.MaxBackoff, c.MinBackoff)
	}
	return nil
}

// withDefaults fills zero (and unusable, negative) fields.
func (c GRPCTransportConfig) withDefaults() GRPCTransportConfig {
	d := DefaultGRPCTransportConfig()
	if c.StreamsPerPeer <= 0 {
		c.StreamsPerPeer = d.StreamsPerPeer
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = d.MaxBatchBytes
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = d.MinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = max(d.MaxBackoff, c.MinBackoff)
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
