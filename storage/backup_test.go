package storage_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

// writeBackup fills an engine with n keys, a hint and a lease, and writes
// its snapshot as a backup file; it returns the file's path and the
// engine's lease.
func writeBackup(t *testing.T, n int) (string, conflict.Lease) {
	t.Helper()
	e := storagetest.Open(t, configIn(t.TempDir()))
	for i := range n {
		if _, err := e.Merge(storagetest.Key(i), storagetest.Register(7, uint64(i+1), 100, "v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.AddHint("n2", storagetest.Key(0), storagetest.Register(7, 1, 100, "v"), time.Unix(100, 0)); err != nil {
		t.Fatal(err)
	}
	lease := conflict.Lease{Actor: 7, Reserved: uint64(n) + 100}
	if err := e.SaveLease(lease); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	size, err := e.Snapshot(&body)
	if err != nil || size != int64(body.Len()) {
		t.Fatalf("snapshot: %d bytes, buffer %d, %v", size, body.Len(), err)
	}
	var file bytes.Buffer
	w, err := storage.NewBackupWriter(&file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(uint64(size), w.Sum()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.qkv")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, lease
}

func TestRestore_roundTrip(t *testing.T) {
	const n = 50
	path, lease := writeBackup(t, n)
	dir := filepath.Join(t.TempDir(), "restored")
	res, err := storage.Restore(path, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.HintsDropped != 1 || res.Actor == 0 || res.Actor == lease.Actor {
		t.Fatalf("result %+v: want 1 hint dropped and a new actor (old %d)", res, lease.Actor)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 || entries[0].Name() != storage.DataFileName {
		t.Fatalf("restored dir holds %v (%v), want the data file alone", entries, err)
	}
	e := storagetest.Open(t, configIn(dir))
	for i := range n {
		if _, err := e.Get(storagetest.Key(i)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if s := e.Stats(); s.Keys != n || s.HintsPending != 0 {
		t.Fatalf("stats %+v", s)
	}
	if h, err := e.Hints("n2", 10); err != nil || len(h) != 0 {
		t.Fatalf("hints %v, %v", h, err)
	}
	got, ok, err := e.LoadLease()
	if err != nil || !ok || got.Actor != res.Actor {
		t.Fatalf("lease %+v %v %v, want actor %d", got, ok, err, res.Actor)
	}
}

func TestWriteBackup_sumMismatchRefused(t *testing.T) {
	var file bytes.Buffer
	w, err := storage.NewBackupWriter(&file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	sum := w.Sum()
	sum[0] ^= 1
	if err := w.Finish(4, sum); !errors.Is(err, storage.ErrBadBackup) {
		t.Fatalf("finish with a wrong sum: %v", err)
	}
	if err := w.Finish(5, w.Sum()); !errors.Is(err, storage.ErrBadBackup) {
		t.Fatalf("finish with a wrong length: %v", err)
	}
}

func TestRestore_badBackupRefused(t *testing.T) {
	path, _ := writeBackup(t, 5)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, mangle := range map[string]func([]byte) []byte{
		"body byte flipped":     func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b },
		"checksum byte flipped": func(b []byte) []byte { b[len(b)-20] ^= 0xff; return b },
		"truncated":             func(b []byte) []byte { return b[:len(b)-100] },
		"trailer cut":           func(b []byte) []byte { return b[:len(b)-1] },
		"header only":           func(b []byte) []byte { return b[:16] },
		"empty":                 func([]byte) []byte { return nil },
		"not a backup":          func(b []byte) []byte { b[0] = 'X'; return b },
		"other version":         func(b []byte) []byte { b[11] = 9; return b },
	} {
		t.Run(name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.qkv")
			if err := os.WriteFile(bad, mangle(bytes.Clone(good)), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "restored")
			if _, err := storage.Restore(bad, dir); !errors.Is(err, storage.ErrBadBackup) {
				t.Fatalf("restore: %v, want ErrBadBackup", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("restore wrote %s before the backup was verified: %v", dir, err)
			}
		})
	}
}

func TestRestore_nonEmptyDirRefused(t *testing.T) {
	path, _ := writeBackup(t, 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Restore(path, dir); !errors.Is(err, storage.ErrDataDir) {
		t.Fatalf("restore into a non-empty dir: %v, want ErrDataDir", err)
	}
	// An existing empty directory is accepted.
	if _, err := storage.Restore(path, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

// FuzzReadBackup: any input is refused or accepted without a panic, and an
// accepted one has a body whose SHA-256 is the trailer's.
func FuzzReadBackup(f *testing.F) {
	var good bytes.Buffer
	w, err := storage.NewBackupWriter(&good)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := w.Write([]byte("body")); err != nil {
		f.Fatal(err)
	}
	if err := w.Finish(4, w.Sum()); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte("QKVBACK\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := storage.ReadBackup(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		body := make([]byte, b.Body.Size())
		if _, err := b.Body.ReadAt(body, 0); err != nil && len(body) > 0 {
			t.Fatal(err)
		}
		if sha256.Sum256(body) != b.SHA256 {
			t.Fatalf("accepted a body whose SHA-256 is not the trailer's")
		}
	})
}
