package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ackedWrites records the writes a load acknowledged: key -> value.
type ackedWrites struct {
	mu   sync.Mutex
	acks map[string]string
}

func (a *ackedWrites) add(k, v string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acks[k] = v
}

func (a *ackedWrites) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.acks))
	for k, v := range a.acks {
		out[k] = v
	}
	return out
}

// putAll runs kvctl put KEY VALUE -c all against endpoint and reports
// whether it was acknowledged. It never touches t: load goroutines call it.
func putAll(ctx context.Context, endpoint, key, value string) (bool, error) {
	cmd := exec.CommandContext(ctx, bins.kvctl, "--endpoints", endpoint, "put", key, value, "-c", "all")
	cmd.Env = append(os.Environ(), "KVCTL_ENDPOINTS=")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee):
		return false, nil // not acknowledged (a timeout, a replica down): not counted
	default:
		return false, fmt.Errorf("kvctl put: %w: %s", err, errb.String())
	}
}

// TestCluster_backupRestoreRejoins: under a small concurrent load of ALL
// writes, kvctl backup takes n3's snapshot; n3 is killed, its data dir
// wiped and restored from the backup; restarted, it rejoins, and after a
// repair every node has the same digest and every acknowledged write
// (those after the backup included) reads back at ALL.
func TestCluster_backupRestoreRejoins(t *testing.T) {
	c := launch(t, 3)
	acked := &ackedWrites{acks: map[string]string{}}
	var count atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		wg      sync.WaitGroup
		loadErr = make(chan error, 3)
	)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				k, v := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("v%d-%d", w, i)
				ok, err := putAll(ctx, c.endpoint(1+w%2), k, v) // through n1 and n2
				if err != nil && ctx.Err() == nil {
					loadErr <- err
					return
				}
				if ok {
					acked.add(k, v)
					count.Add(1)
				}
			}
		}()
	}
	stopLoad := func() {
		cancel()
		wg.Wait()
		select {
		case err := <-loadErr:
			t.Fatalf("load: %v", err)
		default:
		}
	}
	defer stopLoad()

	eventually(t, time.Minute, "30 acknowledged writes before the backup", func() bool { return count.Load() >= 30 })
	file := filepath.Join(t.TempDir(), "n3.backup")
	out := c.must(3, "backup", "--out", file)
	if out != "OK\n" {
		t.Fatalf("backup printed %q", out)
	}
	atBackup := count.Load()
	eventually(t, time.Minute, "30 acknowledged writes after the backup", func() bool { return count.Load() >= atBackup+30 })
	stopLoad()
	want := acked.snapshot()
	t.Logf("%d writes acknowledged, %d of them before the backup finished", len(want), atBackup)

	c.kill9(3)
	dataDir := filepath.Join(c.dir, "n3", "data")
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	if r := kvctl(t, c.endpoint(3), nil, "restore", "--in", file, "--data-dir", dataDir); r.code != 0 || r.stdout != "OK\n" {
		t.Fatalf("restore: %v", r)
	}
	// A second restore into the now full data dir is refused.
	r := kvctl(t, c.endpoint(3), nil, "restore", "--in", file, "--data-dir", dataDir)
	checkResult(t, r, 2, []string{"is not empty"}, []string{"restore"})

	c.script("start") // restarts n3 on the restored data dir
	eventually(t, time.Minute, "n3 alive on n1", func() bool { return c.members(1)["n3"].State == "alive" })
	if r := c.ctl(3, "repair", "--wait", "--timeout", "60s"); r.code != 0 {
		t.Fatalf("repair --wait: %v", r)
	}
	eventually(t, time.Minute, "equal digests after the restore", func() bool {
		ds := c.digests()
		return len(ds) == 3 && ds[0] == ds[1] && ds[1] == ds[2]
	})
	for k, v := range want {
		if got := c.must(1+len(k)%3, "get", k, "-c", "all"); got != v+"\n" {
			t.Fatalf("get %s at ALL: %q, want %q", k, got, v)
		}
	}
	// The restored node issues dots of a new actor: a write through it
	// at ALL is kept by every replica.
	c.must(3, "put", "after-restore", "x", "-c", "all")
	if got := c.must(1, "get", "after-restore", "-c", "all"); got != "x\n" {
		t.Fatalf("write through the restored n3: %q", got)
	}
}
