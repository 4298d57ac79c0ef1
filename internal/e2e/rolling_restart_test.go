package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// TestCluster_rollingRestart restarts each node in turn (SIGTERM, then
// start again) under a QUORUM load through the Go client with every
// endpoint: no request fails, and every acknowledged write reads back.
func TestCluster_rollingRestart(t *testing.T) {
	c := launch(t, 3)
	cl, err := client.New([]string{c.endpoint(1), c.endpoint(2), c.endpoint(3)}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		errs       []error
		acked      sync.Map // key -> value of acknowledged writes
		wg         sync.WaitGroup
	)
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("roll-%d-%d", g, i)
				_, err := cl.Put(ctx, []byte(key), []byte(key), client.WithConsistency(client.Quorum))
				if err == nil {
					acked.Store(key, key)
					_, err = cl.Get(ctx, []byte(key), client.WithConsistency(client.Quorum))
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if len(errs) < 5 {
						errs = append(errs, fmt.Errorf("%s: %w", key, err))
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	progress := func(n int64) {
		t.Helper()
		target := ok.Load() + n
		eventually(t, time.Minute, fmt.Sprintf("%d more requests", n), func() bool { return ok.Load() >= target })
	}
	progress(100)
	for i := 1; i <= 3; i++ {
		pid := c.pid(i)
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, fmt.Sprintf("n%d exited", i), func() bool {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			return syscall.Kill(pid, 0) != nil
		})
		progress(50)      // the load goes on with the node down
		c.script("start") // restarts it, waiting until it is ready
		progress(100)
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed during the rolling restart; first: %v", n, n+ok.Load(), errs)
	}
	// Peers that found the last restarted node down leave it alone for a
	// backoff of up to a few seconds: await the first ALL read that
	// reaches every replica before reading everything back.
	eventually(t, 30*time.Second, "an ALL read reaching every replica", func() bool {
		_, err := cl.Get(ctx, []byte("roll-0-0"), client.WithConsistency(client.All))
		return err == nil
	})
	acked.Range(func(k, v any) bool {
		res, err := cl.Get(ctx, []byte(k.(string)), client.WithConsistency(client.All))
		if err != nil || !res.Found || string(res.Values[0]) != v.(string) {
			t.Fatalf("acknowledged %s reads back at ALL as %+v, %v", k, res, err)
		}
		return true
	})
	t.Logf("%d requests, none failed, while each node restarted in turn", ok.Load())
}
