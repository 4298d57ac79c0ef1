package replication_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

// A read asks R replicas, itself first, and another only when one fails or
// is slow (DESIGN.md, Reads).
func TestCoordinator_Get_asksRReplicas(t *testing.T) {
	tests := map[string]struct {
		level     replication.Level
		slow      bool // the first peer asked answers after the speculative delay
		wantPeers int  // peer reads sent
	}{
		"quorum":                  {replication.Quorum, false, 1},
		"all":                     {replication.All, false, 2},
		"quorum, slow peer":       {replication.Quorum, true, 2},
		"quorum, after a failure": {replication.Quorum, false, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, replicationtest.ClusterConfig{Coordinator: func(_ string, cfg *replication.Config) {
				cfg.SpeculativeDelay = 50 * time.Millisecond
			}})
			ctx := testCtx(t)
			key := []byte("k")
			if _, err := c.Node("n1").Coord.Put(ctx, key, []byte("v"), nil, replication.All); err != nil {
				t.Fatal(err)
			}
			failFirst := name == "quorum, after a failure"
			var reads atomic.Int32
			c.Node("n1").Transport.SetHook(func(ctx context.Context, op, peer string, key []byte, next func(context.Context) error) error {
				if op != "read" {
					return next(ctx)
				}
				if reads.Add(1) == 1 {
					switch {
					case failFirst:
						return replication.ErrPeerUnreachable
					case tc.slow:
						select {
						case <-time.After(200 * time.Millisecond):
						case <-ctx.Done():
							return ctx.Err()
						}
					}
				}
				return next(ctx)
			})
			res, err := c.Node("n1").Coord.Get(ctx, key, tc.level)
			if err != nil || !res.Found {
				t.Fatalf("get: %+v, %v", res, err)
			}
			// Close waits for the reads still in flight.
			if err := c.Node("n1").Coord.Close(); err != nil {
				t.Fatal(err)
			}
			if got := int(reads.Load()); got != tc.wantPeers {
				t.Fatalf("%d peers asked, want %d", got, tc.wantPeers)
			}
		})
	}
}

// The coordinator does not keep the caller's key and value: a caller may
// reuse its buffers once a request is answered, while replica writes are
// still in flight.
func TestCoordinator_Put_callerReusesBuffers(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	c.Net.SetDelay("n1", "n2", 50*time.Millisecond)
	c.Net.SetDelay("n1", "n3", 50*time.Millisecond)
	c.Net.DropRequests("n1", "n3", 1) // so n3's write leaves a hint
	key, value := []byte("key-1"), []byte("value-1")
	kbuf, vbuf := slices.Clone(key), slices.Clone(value)
	if _, err := c.Node("n1").Coord.Put(testCtx(t), kbuf, vbuf, nil, replication.One); err != nil {
		t.Fatal(err)
	}
	copy(kbuf, "XXXXX")
	copy(vbuf, "YYYYYYY")
	replicationtest.Eventually(t, awaitTimeout, func() bool { return c.HoldsValue("n2", key, value) },
		"n2 does not hold %q under %q", value, key)
	replicationtest.Eventually(t, awaitTimeout, func() bool { return hintsLeft(t, c) == 1 }, "no hint for n3")
	c.Net.DropRequests("n1", "n3", 0)
	awaitConverged(t, c)
	for _, id := range c.IDs() {
		if !c.HoldsValue(id, key, value) || c.HoldsValue(id, kbuf, vbuf) || c.HoldsValue(id, kbuf, value) {
			vs, _ := c.Values(id, key)
			t.Fatalf("%s holds %q under %q", id, vs, key)
		}
	}
}

// Requests to a closed coordinator fail or succeed, but return, also
// without a deadline; requests racing Close leave nothing running.
func TestCoordinator_Close(t *testing.T) {
	t.Run("requests after close return", func(t *testing.T) {
		c := newCluster(t, replicationtest.ClusterConfig{})
		co := c.Node("n1").Coord
		if err := co.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx := context.Background() // no deadline: nothing but the coordinator ends the request
			for _, level := range coordLevels {
				_, _ = co.Put(ctx, []byte("k"), []byte("v"), nil, level)
				_, _ = co.Get(ctx, []byte("k"), level)
			}
		}()
		select {
		case <-done:
		case <-time.After(awaitTimeout):
			t.Fatal("requests to a closed coordinator hang")
		}
	})
	t.Run("requests racing close", func(t *testing.T) {
		c := newCluster(t, replicationtest.ClusterConfig{})
		n := c.Node("n1")
		for range 20 {
			co, err := replication.NewCoordinator(replication.Config{NodeID: "n1", MaxSiblings: 1, Limits: keyspace.DefaultLimits()},
				replication.Cluster{Policy: c.Policy, Keys: c.Keys}, n.Engine, n.Engine, n.Dots, n.Clock, c.Ring, n.Transport)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					for ctx.Err() == nil {
						level := coordLevels[i%len(coordLevels)]
						_, _ = co.Put(ctx, []byte{byte('a' + i)}, []byte("v"), nil, level)
						_, _ = co.Get(ctx, []byte{byte('a' + i)}, level)
					}
				})
			}
			time.Sleep(time.Millisecond)
			_ = co.Close()
			cancel()
			wg.Wait()
		}
	})
}

// A node mints more dots than one lease holds: the coordinator mints them
// inside its storage transaction, so the next lease must already be
// persisted (the commit loop once waited on itself every 4096 writes).
func TestCoordinator_Put_beyondOneLease(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	// Thousands of writes: more than the other tests' deadline on a slow
	// machine under -race. (A write whose caller's deadline has passed
	// fails, even when its coordinator's copy was quick.)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const writes, workers = 2*conflict.DefaultLeaseSize + 100, 32
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range workers {
		wg.Go(func() {
			for i := w; i < writes; i += workers {
				for {
					_, err := c.Node("n1").Coord.Put(ctx, []byte{byte(i), byte(i >> 8)}, []byte("v"), nil, replication.One)
					if errors.Is(err, conflict.ErrLeaseExhausted) && ctx.Err() == nil {
						continue // the refill is behind: retry, as its doc says
					}
					if err != nil {
						failed.Store(err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatal(err)
	}
}
