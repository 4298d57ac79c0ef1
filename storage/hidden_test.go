package storage_test

import (
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

func openAt(t *testing.T, dir string) *storage.Engine {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.Dir = dir
	cfg.Policy = conflict.LWW
	e, err := storage.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// hiddenSet is a register written at wall 20 and an older set add at wall
// 10: the key reads as a register, its set part stays stored hidden.
func hiddenSet() *conflict.Object {
	o := &conflict.Object{}
	o.SetAdd(conflict.Dot{Actor: 1, Counter: 1}, conflict.Timestamp{Wall: 10}, [][]byte{[]byte("m")})
	o.Put(conflict.LWW, conflict.Dot{Actor: 1, Counter: 2}, conflict.Timestamp{Wall: 20}, []byte("v"), conflict.Context{})
	return o
}

func TestEngine_Stats_countsHiddenParts(t *testing.T) {
	dir := t.TempDir()
	e := openAt(t, dir)
	defer e.Close()
	if !hiddenSet().HiddenPart() {
		t.Fatal("test object has no hidden part")
	}
	if _, err := e.Merge([]byte("k"), hiddenSet()); err != nil {
		t.Fatal(err)
	}
	plain := &conflict.Object{}
	plain.Put(conflict.LWW, conflict.Dot{Actor: 1, Counter: 3}, conflict.Timestamp{Wall: 30}, []byte("v"), conflict.Context{})
	if _, err := e.Merge([]byte("other"), plain); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.HiddenParts != 1 || s.Keys != 2 {
		t.Fatalf("stats %+v, want 2 keys, 1 hidden part", s)
	}
	if err := storagetest.Verify(e); err != nil {
		t.Fatal(err)
	}
	cur, _ := e.Get([]byte("k"))
	if ok, err := e.Purge([]byte("k"), cur.Marshal()); err != nil || !ok {
		t.Fatalf("remove: %v %v", ok, err)
	}
	if s := e.Stats(); s.HiddenParts != 0 {
		t.Fatalf("stats %+v after the removal, want no hidden part", s)
	}
}

// A data dir written before the counter existed has it counted at open.
func TestOpen_countsHiddenPartsOfAnOlderDataDir(t *testing.T) {
	dir := t.TempDir()
	e := openAt(t, dir)
	if _, err := e.Merge([]byte("k"), hiddenSet()); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(storage.DataFile(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		var meta *bolt.Bucket
		_ = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if b.Get([]byte("sys/hidden")) != nil {
				meta = b
			}
			return nil
		})
		if meta == nil {
			t.Fatal("no sys/hidden counter stored")
		}
		return meta.Delete([]byte("sys/hidden"))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	e = openAt(t, dir)
	defer e.Close()
	if s := e.Stats(); s.HiddenParts != 1 {
		t.Fatalf("stats %+v after reopening, want 1 hidden part", s)
	}
}
