package storage_test

import (
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/storage"
)

func TestEngine_Purge_onlyIfUnchanged(t *testing.T) {
	cfg := storage.DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.Policy = conflict.LWW
	e, err := storage.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tomb := &conflict.Object{}
	tomb.Delete(conflict.LWW, conflict.Dot{Actor: 1, Counter: 1}, conflict.Timestamp{Wall: 10}, conflict.Context{}, conflict.Context{})
	if _, err := e.Merge([]byte("k"), tomb); err != nil {
		t.Fatal(err)
	}
	empty := e.Digest()
	stale := tomb.Marshal()
	// A write after the purge decision changes the object: no purge.
	later := tomb.Clone()
	later.Put(conflict.LWW, conflict.Dot{Actor: 1, Counter: 2}, conflict.Timestamp{Wall: 20}, []byte("v"), tomb.Reg.Ctx)
	if _, err := e.Merge([]byte("k"), later); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.Purge([]byte("k"), stale); err != nil || ok {
		t.Fatalf("purged a changed object: %v %v", ok, err)
	}
	if _, err := e.Get([]byte("k")); err != nil {
		t.Fatal("object lost:", err)
	}
	cur, _ := e.Get([]byte("k"))
	if ok, err := e.Purge([]byte("k"), cur.Marshal()); err != nil || !ok {
		t.Fatalf("purge of the current object: %v %v", ok, err)
	}
	if st := e.Stats(); st.Keys != 0 || st.Tombstones != 0 {
		t.Fatalf("stats after purge: %+v", st)
	}
	var zero [16]byte
	if e.Digest() != zero {
		t.Fatalf("digest after purge %x, want zero (before anything: %x)", e.Digest(), empty)
	}
}
