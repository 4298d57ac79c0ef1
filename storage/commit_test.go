package storage_test

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

// syncLog records OnSync calls.
type syncLog struct {
	syncs  atomic.Int64
	writes atomic.Int64
	mu     sync.Mutex
	sizes  []int
}

func (l *syncLog) onSync(writes int) {
	l.mu.Lock()
	l.sizes = append(l.sizes, writes)
	l.mu.Unlock()
	l.syncs.Add(1)
	l.writes.Add(int64(writes))
}

func TestEngine_Merge_acknowledgedOnlyAfterSync(t *testing.T) {
	const writers, perWriter = 64, 40
	tests := map[string]struct {
		groupCommit bool
		maxBatch    int
	}{
		"group commit":      {true, 0},
		"group commit by 8": {true, 8},
		"commit per write":  {false, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var log syncLog
			cfg := configIn(t.TempDir())
			cfg.GroupCommit, cfg.MaxBatch, cfg.OnSync = tc.groupCommit, tc.maxBatch, log.onSync
			e := storagetest.Open(t, cfg)
			var acked atomic.Int64
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range perWriter {
						key := fmt.Appendf(nil, "w%02d-%03d", w, i)
						obj := storagetest.Register(storagetest.ActorA, uint64(w*perWriter+i+1), 1, "v")
						if _, err := e.Merge(key, obj); err != nil {
							t.Error(err)
							return
						}
						// Every acknowledged write was covered by a sync.
						if n, synced := acked.Add(1), log.writes.Load(); n > synced {
							t.Errorf("%d writes acknowledged, %d synced", n, synced)
						}
						if _, err := e.Get(key); err != nil {
							t.Errorf("acknowledged write not readable: %v", err)
						}
					}
				})
			}
			wg.Wait()
			total := int64(writers * perWriter)
			if acked.Load() != total || log.writes.Load() != total {
				t.Fatalf("%d acknowledged, OnSync counted %d writes, want %d", acked.Load(), log.writes.Load(), total)
			}
			maxBatch := max(tc.maxBatch, 1)
			if tc.maxBatch == 0 {
				maxBatch = storage.DefaultMaxBatch
			}
			if !tc.groupCommit {
				maxBatch = 1
			}
			for _, n := range log.sizes {
				if n < 1 || n > maxBatch {
					t.Fatalf("a sync covered %d writes, want 1 to %d", n, maxBatch)
				}
			}
			syncs := log.syncs.Load()
			switch {
			case !tc.groupCommit && syncs != total:
				t.Fatalf("%d syncs for %d writes without group commit", syncs, total)
			case tc.groupCommit && syncs > total/2:
				t.Fatalf("%d syncs for %d writes from %d writers: group commit is not grouping", syncs, total, writers)
			}
			t.Logf("%d writes in %d syncs", total, syncs)
		})
	}
}

var errRefused = errors.New("refused")

func TestEngine_Update_failingWriteFailsAlone(t *testing.T) {
	tests := map[string]func(t *testing.T, e *storage.Engine){
		"fn returns an error": func(*testing.T, *storage.Engine) {},
		"fn panics":           func(*testing.T, *storage.Engine) {},
	}
	for name, setup := range tests {
		t.Run(name, func(t *testing.T) {
			var log syncLog
			cfg := configIn(t.TempDir())
			cfg.OnSync = log.onSync
			e := storagetest.Open(t, cfg)
			setup(t, e)
			const writers = 64
			var calls atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for w := range writers {
				wg.Go(func() {
					<-start
					bad := w%4 == 0
					key := fmt.Appendf(nil, "good-%02d", w)
					if bad {
						key = fmt.Appendf(nil, "bad-%02d", w)
					}
					_, err := e.Update(key, func(cur *conflict.Object) (*conflict.Object, error) {
						calls.Add(1)
						if bad && name == "fn returns an error" {
							return nil, errRefused
						}
						if bad && name == "fn panics" {
							panic("boom")
						}
						return storagetest.Register(storagetest.ActorA, uint64(w+1), 1, "v"), nil
					})
					switch {
					case bad && err == nil:
						t.Errorf("write %s succeeded", key)
					case bad && name != "fn panics" && !errors.Is(err, errRefused):
						t.Errorf("write %s: %v, want it to wrap %v", key, err, errRefused)
					case !bad && err != nil:
						t.Errorf("write %s failed with the bad ones: %v", key, err)
					}
				})
			}
			close(start)
			wg.Wait()
			for w := range writers {
				_, err := e.Get(fmt.Appendf(nil, "bad-%02d", w))
				if w%4 == 0 && !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("failed write bad-%02d is stored: %v", w, err)
				}
			}
			if s := e.Stats(); s.Keys != writers*3/4 || log.writes.Load() != writers*3/4 {
				t.Fatalf("%d keys stored, %d writes synced, want %d", s.Keys, log.writes.Load(), writers*3/4)
			}
			t.Logf("%d calls of fn for %d writes in %d syncs", calls.Load(), writers, log.syncs.Load())
		})
	}
}

func TestEngine_Close_withWritersInFlight(t *testing.T) {
	dir := t.TempDir()
	e, err := storage.Open(configIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	var acked sync.Map
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%02d-%06d", w, i)
				_, err := e.Merge([]byte(key), storagetest.Register(storagetest.ActorA, uint64(w*1_000_000+i+1), 1, "v"))
				if errors.Is(err, storage.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				acked.Store(key, true)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	errs := make(chan error, 2)
	for range 2 { // concurrent Close calls
		go func() { errs <- e.Close() }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	e = storagetest.Open(t, configIn(dir))
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		if _, err := e.Get([]byte(k.(string))); err != nil {
			t.Fatalf("acknowledged %s lost: %v", k, err)
		}
		return true
	})
	if n == 0 {
		t.Fatal("no write acknowledged before Close")
	}
}

// TestEngine_Merge_durableWhenKilled kills a writing process with SIGKILL
// and checks that every write it acknowledged is in the reopened file.
var killSeed = flag.Int64("kill-seed", 0, "seed of TestEngine_Merge_durableWhenKilled (0: from the clock)")

// TestEngine_Merge_durableWhenKilled kills a writer with SIGKILL at random
// points, round after round on the same data dir (so kills also land in a
// replay, a flush to bbolt, a segment switch or deletion), and checks
// after each that every acknowledged write is there.
func TestEngine_Merge_durableWhenKilled(t *testing.T) {
	seed := *killSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -kill-seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	dir := t.TempDir()
	acked := map[string]bool{}
	for round := range 6 {
		c := startChild(t, "write-until-killed", dir)
		want := rng.IntN(3000)
		if round%3 == 2 {
			want = 0 // killed while it opens: during the replay
		}
		for n := 0; n < want; n++ {
			key, ok := ackedKey(c.line(t))
			if !ok {
				t.Fatal("unexpected output from the writer")
			}
			acked[key] = true
		}
		if err := c.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = c.cmd.Wait()
		if round%2 == 1 {
			continue // the next writer opens what this one left
		}
		e, err := storage.Open(configIn(dir))
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for key := range acked {
			if _, err := e.Get([]byte(key)); err != nil {
				t.Fatalf("round %d: acknowledged %s lost: %v", round, key, err)
			}
		}
		if s := e.Stats(); s.Keys < uint64(len(acked)) {
			t.Fatalf("round %d: %d keys, %d acknowledged", round, s.Keys, len(acked))
		}
		if err := storagetest.Verify(e); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
