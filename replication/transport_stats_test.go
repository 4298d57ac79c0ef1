package replication_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

func TestGRPCTransport_Stats_byKindOutcomeAndReconnects(t *testing.T) {
	rep := replicationtest.NewMemReplica(conflict.LWW)
	peer := startPeer(t, rep, "127.0.0.1:0")
	cfg := fastConfig()
	cfg.StreamsPerPeer = 1
	var (
		mu       sync.Mutex
		observed = map[string]int{}
	)
	cfg.OnMessage = func(peer, op string, err error, latency time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		if latency < 0 {
			t.Errorf("negative latency %v", latency)
		}
		observed[peer+" "+op+" "+outcome]++
	}
	tr := newTransport(t, newResolver("n2", peer.addr), cfg)
	ctx := context.Background()
	if st := tr.Stats(); len(st) != 0 {
		t.Fatalf("Stats() before any request = %+v, want none", st)
	}
	if _, err := tr.Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.Read(ctx, "n2", []byte("k")); err != nil {
		t.Fatal(err)
	}
	_, _ = tr.Apply(ctx, "unknown", []byte("k"), register(1, 1, "v"), false) // not a peer: not counted

	peer.stop()
	if _, err := tr.Apply(ctx, "n2", []byte("k"), register(1, 2, "v"), false); err == nil {
		t.Fatal("apply to a stopped peer succeeded")
	}
	startPeer(t, rep, peer.addr)
	replicationtest.Eventually(t, 10*time.Second, func() bool {
		_, err := tr.Apply(ctx, "n2", []byte("k"), register(1, 3, "v"), false)
		return err == nil
	}, "apply after the peer came back")

	st := tr.Stats()
	if len(st) != 1 || st[0].Peer != "n2" {
		t.Fatalf("Stats() = %+v, want n2 alone", st)
	}
	s := st[0]
	if s.ApplyOK != 2 || s.ApplyErrors < 1 || s.ReadOK != 1 || s.ReadErrors != 0 || s.Reconnects != 1 {
		t.Errorf("Stats() = %+v, want 2 applies ok, at least 1 failed, 1 read ok, 1 reconnect", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if observed["n2 apply ok"] != 2 || observed["n2 read ok"] != 1 || observed["n2 apply error"] != int(s.ApplyErrors) {
		t.Errorf("OnMessage saw %v; Stats %+v", observed, s)
	}
}
