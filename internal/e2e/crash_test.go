package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// TestSingleNode_kill9KeepsAcknowledgedWrites kills kvnode with SIGKILL in
// the middle of a concurrent write load, restarts it, and reads back every
// write that was acknowledged before the kill.
func TestSingleNode_kill9KeepsAcknowledgedWrites(t *testing.T) {
	n := startNode(t, nodeOpts{})
	c, err := client.New([]string{n.grpc}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const writers = 16
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	enough := make(chan struct{})
	var once sync.Once
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key, val := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("value-%d-%d", w, i)
				kind := i % 3
				var err error
				switch kind {
				case 0, 1:
					_, err = c.Put(ctx, []byte(key), []byte(val), client.WithConsistency(client.All))
				case 2:
					_, err = c.SAdd(ctx, []byte(key), [][]byte{[]byte(val)}, client.WithConsistency(client.All))
				}
				if err != nil {
					return // the node is gone: outcome of this write unknown
				}
				mu.Lock()
				acked[key] = val
				if len(acked) >= 2000 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatalf("load made only %d writes in 60s", len(acked))
	}
	n.kill9() // mid-load: writers are still sending
	wg.Wait()
	cancel()

	m := n.restart()
	c2, err := client.New([]string{m.grpc}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d writes acknowledged before kill -9", len(acked))
	rctx := context.Background()
	for key, val := range acked {
		var got []byte
		if res, err := c2.Get(rctx, []byte(key), client.WithConsistency(client.One)); err == nil && res.Found {
			got = res.Values[0]
		} else if errors.Is(err, client.ErrFailedPrecondition) {
			sm, err := c2.SMembers(rctx, []byte(key))
			if err != nil || len(sm.Members) != 1 {
				t.Fatalf("set %s after restart: %v %v", key, sm, err)
			}
			got = sm.Members[0]
		} else {
			t.Fatalf("acknowledged write %s lost after kill -9: %v", key, err)
		}
		if string(got) != val {
			t.Fatalf("key %s: got %q, want %q", key, got, val)
		}
	}
}

func TestSingleNode_sigtermExitsCleanly(t *testing.T) {
	n := startNode(t, nodeOpts{args: []string{"--shutdown-timeout", "3s"}})
	n.must("put", "k", "v")
	start := time.Now()
	n.cmd.Process.Signal(syscall.SIGTERM)
	if code := n.exitCode(10 * time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d:\n%s", code, n.stderr)
	}
	if d := time.Since(start); d > 3*time.Second+time.Second {
		t.Fatalf("SIGTERM took %v, beyond --shutdown-timeout", d)
	}
	m := n.restart()
	if got := m.must("get", "k"); got != "v\n" {
		t.Fatalf("after restart: %q", got)
	}
}
