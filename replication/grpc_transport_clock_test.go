package replication_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
)

// clockRefuser refuses every apply as a replica whose clock is behind.
type clockRefuser struct{ echoReplica }

func (clockRefuser) ApplyReplica(context.Context, []byte, *conflict.Object, bool) (*conflict.Object, error) {
	return nil, conflict.ErrClockOffset
}

// Reply batches carry the peer's wall clock: the transport hands it to
// OnPeerClock with the round trip; a refusal for clock offset crosses the
// wire as one (ReplicaError.clock_offset).
func TestGRPCTransport_peerClockAndClockOffsetRefusal(t *testing.T) {
	const skew = 3 * time.Second
	ahead := startPeerWith(t, echoReplica{}, "127.0.0.1:0", replication.ExchangeServerConfig{Wall: func() time.Time { return time.Now().Add(skew) }})
	refuser := startPeer(t, clockRefuser{}, "127.0.0.1:0")
	var (
		mu      sync.Mutex
		offsets = map[string]time.Duration{}
	)
	cfg := replication.DefaultGRPCTransportConfig()
	cfg.OnPeerClock = func(peer string, peerWall, sent, recv time.Time) {
		mu.Lock()
		defer mu.Unlock()
		offsets[peer] = peerWall.Sub(sent.Add(recv.Sub(sent) / 2))
	}
	tr := newTransport(t, newResolver("ahead", ahead.addr, "refuser", refuser.addr), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := tr.Apply(ctx, "ahead", []byte("k"), register(1, 1, "v"), false); err != nil {
		t.Fatal(err)
	}
	_, err := tr.Apply(ctx, "refuser", []byte("k"), register(1, 1, "v"), false)
	var re *replication.RemoteError
	if !errors.As(err, &re) || !re.ClockOffset || !errors.Is(err, conflict.ErrClockOffset) || errors.Is(err, replication.ErrIndeterminate) {
		t.Fatalf("refused apply: %v, want a RemoteError matching conflict.ErrClockOffset", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if d := offsets["ahead"] - skew; d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("measured offset of the peer 3s ahead: %v (all: %v)", offsets["ahead"], offsets)
	}
	if _, ok := offsets["refuser"]; ok {
		t.Fatalf("a peer without a wall clock reported an offset: %v", offsets)
	}
}
