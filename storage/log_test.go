package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

// logConfig is a config whose records stay in the log until a flush the
// test asks for (or Close).
func logConfig(dir string) storage.Config {
	cfg := configIn(dir)
	cfg.FlushInterval = storage.MaxFlushInterval
	return cfg
}

// openRaw opens an engine the test closes or crashes itself.
func openRaw(t *testing.T, cfg storage.Config) *storage.Engine {
	t.Helper()
	e, err := storage.Open(cfg)
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	return e
}

// putN merges keys first..first+n-1 and returns what was acknowledged.
func putN(t *testing.T, e *storage.Engine, first, n int, value string) map[string]*conflict.Object {
	t.Helper()
	acked := map[string]*conflict.Object{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := first + w; i < first+n; i += 8 {
				obj := storagetest.Register(storagetest.ActorA, uint64(i+1), int64(i+1), value)
				got, err := e.Merge(storagetest.Key(i), obj)
				if err != nil {
					t.Errorf("merge %d: %v", i, err)
					return
				}
				mu.Lock()
				acked[string(storagetest.Key(i))] = got
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return acked
}

// checkHolds fails unless e holds every acknowledged object and its Merkle
// trees, digest and counters agree with its contents.
func checkHolds(t *testing.T, e *storage.Engine, acked map[string]*conflict.Object) {
	t.Helper()
	for k, want := range acked {
		got, err := e.Get([]byte(k))
		if err != nil {
			t.Fatalf("get %q: %v", k, err)
		}
		if !bytes.Equal(got.Marshal(), want.Marshal()) {
			t.Fatalf("key %q holds another object than was acknowledged", k)
		}
	}
	if err := storagetest.Verify(e); err != nil {
		t.Fatal(err)
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(storage.WALDir(dir), "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestEngine_crash_replaysTheLog(t *testing.T) {
	dir := t.TempDir()
	cfg := logConfig(dir)
	cfg.SegmentBytes = 64 << 10 // several segments
	e := openRaw(t, cfg)
	acked := putN(t, e, 0, 1000, strings.Repeat("v", 200))
	if err := e.Flush(); err != nil { // part in bbolt, part only in the log
		t.Fatal(err)
	}
	for k, v := range putN(t, e, 500, 1000, strings.Repeat("w", 200)) {
		acked[k] = v
	}
	digest := e.Digest()
	storage.Crash(e)
	if n := len(segments(t, dir)); n < 2 {
		t.Fatalf("%d log segments before the restart, want several", n)
	}
	e = storagetest.Open(t, cfg)
	checkHolds(t, e, acked)
	if e.Digest() != digest {
		t.Fatal("digest changed across the restart")
	}
	if got := e.Stats().Keys; got != 1500 {
		t.Fatalf("%d keys after replay, want 1500", got)
	}
	if n := len(segments(t, dir)); n != 0 {
		t.Fatalf("%d log segments after the replay, want them deleted", n)
	}
}

func TestEngine_recordsReachReadersOnlyWhenDurable(t *testing.T) {
	e := storagetest.Open(t, logConfig(t.TempDir()))
	release := make(chan struct{})
	storage.SetLogFault(e, func(op string) error {
		if op == "sync" {
			<-release
		}
		return nil
	})
	key := []byte("k")
	obj, wait, err := e.Stage(key, func(*conflict.Object) (*conflict.Object, error) {
		return storagetest.Set(storagetest.ActorA, 1, 1, "first"), nil
	})
	if err != nil || obj == nil {
		t.Fatalf("stage: %v", err)
	}
	if _, err := e.Get(key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get before the sync: %v, want not found", err)
	}
	if d := e.Digest(); d != ([storage.HashSize]byte{}) || e.Stats().Keys != 0 {
		t.Fatal("the digest or the counters count a record not yet durable")
	}
	seen := make(chan *conflict.Object, 1)
	second := make(chan error, 1)
	go func() {
		_, err := e.Update(key, func(cur *conflict.Object) (*conflict.Object, error) {
			seen <- cur
			return conflict.Merge(conflict.LWW, cur, storagetest.Set(storagetest.ActorB, 1, 2, "second")), nil
		})
		second <- err
	}()
	if cur := <-seen; cur == nil {
		t.Fatal("a second write of the key did not see the staged object")
	}
	close(release)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	got, err := e.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Members()) != 2 {
		t.Fatalf("members %q, want both", got.Members())
	}
}

func TestEngine_logFailureStopsWrites(t *testing.T) {
	dir := t.TempDir()
	e := openRaw(t, logConfig(dir))
	acked := putN(t, e, 0, 50, "v")
	errDisk := errors.New("disk on fire")
	var failing atomic.Bool
	failing.Store(true)
	storage.SetLogFault(e, func(op string) error {
		if failing.Load() && op == "sync" {
			return errDisk
		}
		return nil
	})
	_, err := e.Merge([]byte("lost"), storagetest.Register(storagetest.ActorA, 100, 100, "x"))
	if !errors.Is(err, storage.ErrFatal) || !errors.Is(err, errDisk) {
		t.Fatalf("write during a failing sync: %v, want ErrFatal wrapping the cause", err)
	}
	select {
	case <-e.Failed():
	default:
		t.Fatal("Failed is not closed after a failed sync")
	}
	failing.Store(false)
	if _, err := e.Merge([]byte("after"), storagetest.Register(storagetest.ActorA, 101, 101, "x")); !errors.Is(err, storage.ErrFatal) {
		t.Fatalf("write after the failure: %v, want ErrFatal", err)
	}
	if _, err := e.Get([]byte("lost")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the failed write is visible: %v", err)
	}
	storage.Crash(e)
	e = storagetest.Open(t, logConfig(dir))
	checkHolds(t, e, acked)
}

func TestEngine_failedFlushKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	e := openRaw(t, logConfig(dir))
	var refuse atomic.Bool
	storage.SetAfterMutation(e, func(bucket, _ []byte) error {
		if refuse.Load() && string(bucket) == "objects" {
			return errRefused
		}
		return nil
	})
	refuse.Store(true)
	acked := putN(t, e, 0, 200, "v")
	if err := e.Flush(); !errors.Is(err, errRefused) {
		t.Fatalf("flush: %v, want the refusal", err)
	}
	for k := range acked {
		if _, err := e.Get([]byte(k)); err != nil {
			t.Fatalf("get %q after a failed flush: %v", k, err)
		}
	}
	for k, v := range putN(t, e, 200, 100, "w") {
		acked[k] = v
	}
	refuse.Store(false)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	checkHolds(t, e, acked)
	storage.Crash(e)
	e = storagetest.Open(t, logConfig(dir))
	checkHolds(t, e, acked)
}

func TestOpen_tornTailIsCutAndLogged(t *testing.T) {
	dir := t.TempDir()
	e := openRaw(t, logConfig(dir))
	acked := putN(t, e, 0, 300, "v")
	storage.Crash(e)
	segs := segments(t, dir)
	newest := segs[len(segs)-1]
	fi, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	// A record cut short: a header that promises more than follows.
	f, err := os.OpenFile(newest, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	cfg := logConfig(dir)
	cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	e = storagetest.Open(t, cfg)
	checkHolds(t, e, acked)
	msg := logged.String()
	want := fmt.Sprintf("offset=%d bytes_dropped=11", fi.Size())
	if !strings.Contains(msg, "torn tail") || !strings.Contains(msg, want) {
		t.Fatalf("log %q, want the torn tail with %s", msg, want)
	}
}

// crashedWithSegments writes 400 keys in segments of 16 KiB, crashes the
// engine with them in the log only, and returns its config and the
// segments, at least three.
func crashedWithSegments(t *testing.T) (storage.Config, []string) {
	t.Helper()
	dir := t.TempDir()
	cfg := logConfig(dir)
	cfg.SegmentBytes = 16 << 10
	e := openRaw(t, cfg)
	putN(t, e, 0, 400, strings.Repeat("v", 100))
	storage.Crash(e)
	segs := segments(t, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want at least 3", len(segs))
	}
	return cfg, segs
}

func TestOpen_damageInAnOlderSegmentIsRefused(t *testing.T) {
	cfg, segs := crashedWithSegments(t)
	older := segs[len(segs)-2]
	f, err := os.OpenFile(older, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("garbage!"), 100); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = storage.Open(cfg)
	if err == nil || !errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), older) ||
		!strings.Contains(err.Error(), "at offset") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("open: %v, want a one-line corruption error naming %s and the offset", err, older)
	}
}

func TestOpen_formatVersions(t *testing.T) {
	t.Run("an older data dir is upgraded", func(t *testing.T) {
		dir := t.TempDir()
		e := openRaw(t, configIn(dir))
		acked := putN(t, e, 0, 100, "v")
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		// What the release before the log wrote: version 1, no log.
		writeBoltFile(t, dir, func(tx *bolt.Tx) error {
			return errors.Join(tx.Bucket([]byte("meta")).Put([]byte("sys/format"), []byte{1}),
				tx.Bucket([]byte("meta")).Delete([]byte("sys/logpos")))
		})
		if err := os.RemoveAll(storage.WALDir(dir)); err != nil {
			t.Fatal(err)
		}
		e = storagetest.Open(t, configIn(dir))
		checkHolds(t, e, acked)
		more := putN(t, e, 100, 10, "w")
		checkHolds(t, e, more)
	})
	t.Run("a newer data dir is refused", func(t *testing.T) {
		dir := t.TempDir()
		writeValidFile(t, dir)
		writeBoltFile(t, dir, func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("sys/format"), []byte{99})
		})
		_, err := storage.Open(configIn(dir))
		if err == nil || !errors.Is(err, storage.ErrDataDir) || !strings.Contains(err.Error(), "format version 99 is newer") {
			t.Fatalf("open: %v, want the newer format refused", err)
		}
	})
}

func TestEngine_DropPartition(t *testing.T) {
	dir := t.TempDir()
	e := openRaw(t, logConfig(dir))
	acked := putN(t, e, 0, 500, "v")
	p := keyspace.PartitionOf(storagetest.Key(0))
	if err := e.Flush(); err != nil { // some of p in bbolt, some in the log
		t.Fatal(err)
	}
	for k, v := range putN(t, e, 500, 500, "w") {
		acked[k] = v
	}
	if err := e.DropPartition(p); err != nil {
		t.Fatal(err)
	}
	for k := range acked {
		if keyspace.PartitionOf([]byte(k)) == p {
			delete(acked, k)
		}
	}
	// A write of the partition after the drop is kept, across a replay.
	after := storagetest.Key(0)
	obj := storagetest.Register(storagetest.ActorB, 1, 1, "after")
	if _, err := e.Merge(after, obj); err != nil {
		t.Fatal(err)
	}
	acked[string(after)] = obj
	checkHolds(t, e, acked)
	storage.Crash(e)
	e = storagetest.Open(t, logConfig(dir))
	checkHolds(t, e, acked)
	var inP int
	if err := e.Scan(p, nil, func([]byte, *conflict.Object) bool { inP++; return true }); err != nil {
		t.Fatal(err)
	}
	if inP != 1 {
		t.Fatalf("%d keys in the dropped partition, want only the one written after", inP)
	}
}

// DropPartitions drops several partitions with one flush; the others are
// kept, and the drops survive a crash and a replay.
func TestEngine_DropPartitions(t *testing.T) {
	dir := t.TempDir()
	e := openRaw(t, logConfig(dir))
	acked := putN(t, e, 0, 1000, "v")
	drop := map[keyspace.Partition]bool{}
	for i := range 3 {
		drop[keyspace.PartitionOf(storagetest.Key(i))] = true
	}
	if err := e.DropPartitions(slices.Collect(maps.Keys(drop))...); err != nil {
		t.Fatal(err)
	}
	for k := range acked {
		if drop[keyspace.PartitionOf([]byte(k))] {
			delete(acked, k)
		}
	}
	if len(acked) == 1000 || len(acked) == 0 {
		t.Fatalf("%d of 1000 keys kept", len(acked))
	}
	checkHolds(t, e, acked)
	storage.Crash(e)
	e = storagetest.Open(t, logConfig(dir))
	checkHolds(t, e, acked)
	if st := e.Stats(); st.Keys != uint64(len(acked)) {
		t.Fatalf("%d keys counted after the replay, want %d", st.Keys, len(acked))
	}
}

func TestEngine_flushesWithinTheInterval(t *testing.T) {
	dir := t.TempDir()
	cfg := configIn(dir)
	cfg.FlushInterval = 20 * time.Millisecond
	flushed := make(chan int, 100)
	cfg.OnFlush = func(keys int) {
		select {
		case flushed <- keys:
		default:
		}
	}
	e := storagetest.Open(t, cfg)
	putN(t, e, 0, 100, "v")
	total := 0
	for total < 100 {
		total += <-flushed
	}
}

// TestEngine_powerCut_losesNothingAcknowledged cuts the power at a random
// fdatasync of the log: the sync fails (so nothing more is acknowledged),
// and everything written to the log after the last completed sync is
// thrown away, as a file system that drops what was never synced would.
// Every write acknowledged before the cut must be there after a restart;
// a write acknowledged before its sync would be lost here.
func TestEngine_powerCut_losesNothingAcknowledged(t *testing.T) {
	seed := *killSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -kill-seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	for round := range 5 {
		dir := t.TempDir()
		cfg := logConfig(dir)
		cfg.FlushInterval = time.Duration(10+rng.IntN(40)) * time.Millisecond
		cfg.SegmentBytes = int64(8+rng.IntN(32)) << 10
		e := openRaw(t, cfg)
		cutAt := int64(1 + rng.IntN(300))
		var syncs atomic.Int64
		var cut atomic.Uint64
		errPower := errors.New("power cut")
		storage.SetLogFault(e, func(op string) error {
			if op != "sync" {
				return nil
			}
			if syncs.Add(1) == cutAt {
				cut.Store(storage.SyncedPosition(e) + 1) // +1: zero means no cut yet
			}
			if cut.Load() != 0 {
				return errPower
			}
			return nil
		})
		var mu sync.Mutex
		acked := map[string]*conflict.Object{}
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := 0; ; i++ {
					key := fmt.Appendf(nil, "r%d-w%02d-%05d", round, w, i)
					obj := storagetest.Register(storagetest.ActorA, uint64(w*100000+i+1), int64(i+1), string(key))
					got, err := e.Merge(key, obj)
					if err != nil {
						if !errors.Is(err, storage.ErrFatal) {
							t.Errorf("merge: %v", err)
						}
						return
					}
					mu.Lock()
					acked[string(key)] = got
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		storage.Crash(e)
		synced := cut.Load() - 1
		// Drop every byte of the log past the last completed sync.
		for _, path := range segments(t, dir) {
			var start uint64
			if _, err := fmt.Sscanf(filepath.Base(path), "%016x.wal", &start); err != nil {
				t.Fatal(err)
			}
			switch fi, err := os.Stat(path); {
			case err != nil:
				t.Fatal(err)
			case start >= synced && start > 0:
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			case start+uint64(fi.Size()) > synced:
				if err := os.Truncate(path, int64(synced-start)); err != nil {
					t.Fatal(err)
				}
			}
		}
		e = storagetest.Open(t, cfg)
		checkHolds(t, e, acked)
		t.Logf("round %d: cut at sync %d, %d writes acknowledged before it", round, cutAt, len(acked))
	}
}
