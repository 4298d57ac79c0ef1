package storage_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

// fillAndEmpty writes n keys of 4 KiB to e and deletes
// all but the first keep, leaving free pages in the file.
func fillAndEmpty(t *testing.T, e *storage.Engine, n, keep int) {
	t.Helper()
	big := strings.Repeat("v", 4096)
	for i := range n {
		if _, err := e.Merge(storagetest.Key(i), storagetest.Register(7, uint64(i+1), 100, big)); err != nil {
			t.Fatal(err)
		}
	}
	// Into the data file, so the deletes below free its pages (in the
	// commit log alone, the writes and deletes would cancel out).
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := keep; i < n; i++ {
		if err := e.Delete(storagetest.Key(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEngine_Space_liveBytesLeaveOutFreePages(t *testing.T) {
	e := storagetest.Open(t, configIn(t.TempDir()))
	fillAndEmpty(t, e, 300, 300)
	full, err := e.Space()
	if err != nil {
		t.Fatal(err)
	}
	if full.LiveBytes <= 300*4096 || full.LiveBytes > full.FileBytes || full.FileBytes != e.Stats().StorageBytes {
		t.Fatalf("after 1200 KiB of values: %+v (storage bytes %d)", full, e.Stats().StorageBytes)
	}
	for i := 3; i < 300; i++ {
		if err := e.Delete(storagetest.Key(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil { // the deletes into the data file
		t.Fatal(err)
	}
	emptied, err := e.Space()
	if err != nil {
		t.Fatal(err)
	}
	if emptied.FileBytes < full.FileBytes || emptied.LiveBytes >= full.LiveBytes/4 || emptied.LiveBytes <= 0 {
		t.Fatalf("after deleting 297 of 300 keys: %+v, was %+v: live bytes must drop, the file must not shrink", emptied, full)
	}
}

func TestCompactFile_shrinksAndKeepsTheData(t *testing.T) {
	dir := t.TempDir()
	e, err := storage.Open(configIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	fillAndEmpty(t, e, 300, 3)
	want, err := storagetest.ReadAll(e)
	if err != nil {
		t.Fatal(err)
	}
	digest := e.Digest()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Beside data.db: a stale copy from a cut-short run, and a file of
	// another part of the data dir, which compaction must not touch.
	if err := os.WriteFile(filepath.Join(dir, "data.db.compact"), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "log", "000001.seg")
	if err := os.MkdirAll(filepath.Dir(other), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("segment"), 0o600); err != nil {
		t.Fatal(err)
	}

	before, after, err := storage.CompactFile(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if after >= before/2 {
		t.Fatalf("compaction: %d bytes -> %d, want less than half", before, after)
	}
	if _, err := os.Stat(filepath.Join(dir, "data.db.compact")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data.db.compact left behind: %v", err)
	}
	if b, err := os.ReadFile(other); err != nil || string(b) != "segment" {
		t.Fatalf("another file of the data dir changed: %q, %v", b, err)
	}
	e = storagetest.Open(t, configIn(dir))
	got, err := storagetest.ReadAll(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Objects) != len(want.Objects) || e.Digest() != digest {
		t.Fatalf("after compaction: %d objects, digest %x; want %d, %x", len(got.Objects), e.Digest(), len(want.Objects), digest)
	}
	if err := storagetest.Verify(e); err != nil {
		t.Fatal(err)
	}
}

func TestCompactFile_refusesARunningNode(t *testing.T) {
	dir := t.TempDir()
	e := storagetest.Open(t, configIn(dir))
	fillAndEmpty(t, e, 10, 10)
	before, err := os.Stat(e.Path())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = storage.CompactFile(dir, "")
	if !errors.Is(err, storage.ErrInUse) || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("CompactFile of an open data dir: %v, want ErrInUse saying to stop the node", err)
	}
	if fi, err := os.Stat(e.Path()); err != nil || !os.SameFile(fi, before) {
		t.Fatalf("the data file was replaced: %v", err)
	}
}

func TestCompactFile_noDataFile(t *testing.T) {
	if _, _, err := storage.CompactFile(t.TempDir(), ""); !errors.Is(err, storage.ErrDataDir) {
		t.Fatalf("CompactFile of an empty dir: %v, want ErrDataDir", err)
	}
}

func TestCompactFile_out(t *testing.T) {
	dir := t.TempDir()
	e, err := storage.Open(configIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	fillAndEmpty(t, e, 100, 1)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(e.Path())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	before, after, err := storage.CompactFile(dir, out)
	if err != nil || after >= before || before != int64(len(orig)) {
		t.Fatalf("CompactFile --out: %d -> %d, %v", before, after, err)
	}
	if now, err := os.ReadFile(e.Path()); err != nil || !bytes.Equal(now, orig) {
		t.Fatalf("with out set the data file changed: %v", err)
	}
	storagetest.CheckFile(t, out)
	if _, _, err := storage.CompactFile(dir, out); !errors.Is(err, storage.ErrInvalidArgument) {
		t.Fatalf("CompactFile onto an existing file: %v, want ErrInvalidArgument", err)
	}
}
