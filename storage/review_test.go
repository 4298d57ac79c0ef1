package storage_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

// DropPartition holds the gate shared while its Flush takes it shared
// again (submitWith): a Close waiting for the gate in between blocks that
// second RLock, and neither returns.
func TestReview_DropPartition_concurrentCloseDeadlocks(t *testing.T) {
	e := openRaw(t, logConfig(t.TempDir()))
	putN(t, e, 0, 50, "v")
	p := keyspace.PartitionOf(storagetest.Key(0))

	entered := make(chan struct{})
	release := make(chan struct{})
	var armed atomic.Bool
	armed.Store(true)
	storage.SetLogFault(e, func(op string) error {
		if op == "write" && armed.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return nil
	})
	dropped := make(chan error, 1)
	go func() { dropped <- e.DropPartition(p) }()
	<-entered // the drop record is appended, DropPartition holds the gate
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	time.Sleep(100 * time.Millisecond) // Close waits for the gate
	close(release)

	deadline := time.After(5 * time.Second)
	for range 2 {
		select {
		case err := <-dropped:
			if err != nil {
				t.Errorf("DropPartition: %v", err)
			}
		case err := <-closed:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-deadline:
			t.Fatal("DropPartition and Close still blocked after 5s: deadlock on the gate")
		}
	}
}

// When the flush DropPartition ends with fails, the drop waits in the
// frozen memtable with the partition's old entries, and the stripe locks
// are released: a later write of a dropped key builds on the dropped
// object (and Get shows it), and the counters later subtract that object
// twice.
func TestReview_DropPartition_failedFlushResurrectsDroppedObjects(t *testing.T) {
	dir := t.TempDir()
	e := openRaw(t, logConfig(dir))
	putN(t, e, 0, 200, "v")
	if err := e.Flush(); err != nil { // the partition's objects are in bbolt
		t.Fatal(err)
	}
	key := storagetest.Key(0)
	p := keyspace.PartitionOf(key)

	var failing atomic.Bool
	storage.SetAfterMutation(e, func(bucket, k []byte) error {
		if failing.Load() && string(k) == "sys/logpos" {
			return errors.New("injected flush failure")
		}
		return nil
	})
	failing.Store(true)
	if err := e.DropPartition(p); err == nil {
		t.Fatal("DropPartition succeeded despite the failing flush")
	}
	failing.Store(false)

	// Either the engine stops (the drop's state in memory is not one a
	// write may build on), or a later write does not see the dropped
	// object.
	var sawOld bool
	_, err := e.Update(key, func(cur *conflict.Object) (*conflict.Object, error) {
		sawOld = cur != nil
		return storagetest.Register(storagetest.ActorB, 1, 1, "after"), nil
	})
	switch {
	case errors.Is(err, storage.ErrFatal):
	case err != nil:
		t.Fatal(err)
	case sawOld:
		t.Error("a write after the (durable) drop was given the dropped object")
	default:
		if _, err := e.Get(key); err != nil {
			t.Errorf("get after the write: %v", err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := storagetest.Verify(e); err != nil {
		t.Errorf("after the retried flush: %v", err)
	}
	storage.Crash(e)
	e = storagetest.Open(t, logConfig(dir))
	if err := storagetest.Verify(e); err != nil {
		t.Errorf("after a restart: %v", err)
	}
}

// An older segment that ends short of where the next one starts (its tail
// lost, or a whole segment missing between them) holds acknowledged
// records that are gone: Open must refuse, not start without them.
func TestReview_Open_gapBetweenSegmentsIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, segs []string)
	}{
		{"olderSegmentEmptied", func(t *testing.T, segs []string) {
			if err := os.Truncate(segs[len(segs)-2], 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"middleSegmentMissing", func(t *testing.T, segs []string) {
			if err := os.Remove(segs[len(segs)-2]); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, segs := crashedWithSegments(t)
			tc.damage(t, segs)
			e, err := storage.Open(cfg)
			if err == nil {
				_ = e.Close()
				t.Fatal("open succeeded without the acknowledged records of the lost log bytes")
			}
			if !errors.Is(err, storage.ErrCorrupt) {
				t.Fatalf("open: %v, want ErrCorrupt", err)
			}
		})
	}
}

// Writers of a few hot keys (puts, deletes, purges with the bytes they
// last saw), flushes, partition drops and readers all at once; then the
// digest, Merkle trees and counters must match the contents, before and
// after a crash and replay.
func TestReview_stress_mixedWritesFlushesDrops(t *testing.T) {
	dir := t.TempDir()
	cfg := logConfig(dir)
	cfg.SegmentBytes = 8 << 10
	cfg.FlushBytes = 4 << 10
	e := openRaw(t, cfg)
	const keys = 40
	stop := time.After(2 * time.Second)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			var last []byte
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := storagetest.Key(r.IntN(keys))
				switch op := r.IntN(10); {
				case op < 5:
					obj := storagetest.Register(conflict.ActorID(w+1), uint64(i+1), int64(i+1), "v")
					got, err := e.Merge(k, obj)
					if err != nil {
						t.Error(err)
						return
					}
					last = got.Marshal()
				case op < 6:
					if err := e.Delete(k); err != nil {
						t.Error(err)
						return
					}
				case op < 7:
					if last != nil {
						if _, err := e.Purge(k, last); err != nil {
							t.Error(err)
							return
						}
					}
				case op < 8:
					_, _, err := e.Stage(k, func(cur *conflict.Object) (*conflict.Object, error) {
						if cur == nil {
							return storagetest.Tombstone(conflict.ActorID(w+1), uint64(i+1), int64(i+1)), nil
						}
						return cur, nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				default:
					if _, err := e.Get(k); err != nil && !errors.Is(err, storage.ErrNotFound) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if err := e.DropPartition(keyspace.PartitionOf(storagetest.Key(rand.IntN(keys)))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	<-stop
	close(done)
	wg.Wait()
	if err := storagetest.Verify(e); err != nil {
		t.Fatal(err)
	}
	digest, stats := e.Digest(), e.Stats()
	storage.Crash(e)
	e = storagetest.Open(t, cfg)
	if err := storagetest.Verify(e); err != nil {
		t.Fatal(err)
	}
	if e.Digest() != digest || e.Stats().Keys != stats.Keys || e.Stats().Tombstones != stats.Tombstones {
		t.Fatal("digest or counters changed across the crash")
	}
}

func TestReview_Stage_unchangedWaitsForTheStagedWrite(t *testing.T) {
	e := storagetest.Open(t, logConfig(t.TempDir()))
	release := make(chan struct{})
	var hold atomic.Bool
	hold.Store(true)
	storage.SetLogFault(e, func(op string) error {
		if op == "sync" && hold.Load() {
			<-release
		}
		return nil
	})
	key := storagetest.Key(1)
	first := storagetest.Register(storagetest.ActorA, 1, 1, "v")
	_, wait1, err := e.Stage(key, func(*conflict.Object) (*conflict.Object, error) { return first, nil })
	if err != nil {
		t.Fatal(err)
	}
	got, wait2, err := e.Stage(key, func(cur *conflict.Object) (*conflict.Object, error) {
		if cur == nil {
			t.Error("the second Stage does not see the staged object")
			return first, nil
		}
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || !bytes.Equal(got.Marshal(), first.Marshal()) {
		t.Fatal("the unchanged Stage does not return the staged object")
	}
	waited := make(chan error, 1)
	go func() { waited <- wait2() }()
	select {
	case <-waited:
		t.Fatal("the unchanged Stage's wait returned before the write it saw was durable")
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := e.Get(key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get sees a staged object: %v", err)
	}
	hold.Store(false)
	close(release)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if err := wait1(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(key); err != nil {
		t.Fatal(err)
	}
}

// With a memtable left frozen by a failed flush that fails again, the drop
// stays in the active memtable; a write of the partition acknowledged
// after DropPartition returned lands after the drop in that memtable, and
// the flush that takes it applies the drop after the entries: the
// acknowledged write is lost for good.
func TestReview_DropPartition_leftoverFlushFailsThenWriteIsDropped(t *testing.T) {
	dir := t.TempDir()
	e := openRaw(t, logConfig(dir))
	var failing atomic.Bool
	storage.SetAfterMutation(e, func(bucket, k []byte) error {
		if failing.Load() && string(k) == "sys/logpos" {
			return errors.New("injected flush failure")
		}
		return nil
	})
	putN(t, e, 0, 100, "v")
	failing.Store(true)
	if err := e.Flush(); err == nil { // leaves the memtable frozen
		t.Fatal("flush succeeded despite the failure")
	}
	key := storagetest.Key(0)
	p := keyspace.PartitionOf(key)
	if err := e.DropPartition(p); err == nil {
		t.Fatal("DropPartition succeeded despite the failing flush")
	}
	failing.Store(false)
	obj := storagetest.Register(storagetest.ActorB, 1, 1, "after")
	_, err := e.Update(key, func(*conflict.Object) (*conflict.Object, error) { return obj, nil })
	if errors.Is(err, storage.ErrFatal) {
		storage.Crash(e)
		return // refused: nothing acknowledged to lose
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(key); err != nil {
		t.Errorf("the write acknowledged after the drop: %v", err)
	}
	storage.Crash(e)
	e = storagetest.Open(t, logConfig(dir))
	if _, err := e.Get(key); err != nil {
		t.Errorf("the write acknowledged after the drop, after a restart: %v", err)
	}
}
