// Package storagetest holds test helpers for storage engines: the Engine
// interface the conformance suite runs against, RunConformance itself, an
// Open that checks the bbolt file when the test ends, Verify, which
// recomputes the digest, Merkle trees and counters from the data, and
// object builders. It is imported by tests only.
package storagetest

import (
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

// Engine is what the conformance suite needs of a storage engine.
type Engine interface {
	Get(key []byte) (*conflict.Object, error)
	Update(key []byte, fn func(cur *conflict.Object) (*conflict.Object, error)) (*conflict.Object, error)
	Merge(key []byte, obj *conflict.Object) (*conflict.Object, error)
	Delete(key []byte) error
	Scan(p keyspace.Partition, after []byte, fn func(key []byte, obj *conflict.Object) bool) error

	MerkleRoots(parts []keyspace.Partition) ([][storage.HashSize]byte, error)
	MerkleNodes(p keyspace.Partition, level int, indexes []int) ([][storage.HashSize]byte, error)
	LeafEntries(p keyspace.Partition, leaf int) ([]storage.KeyHash, error)
	Digest() [storage.HashSize]byte
	Stats() storage.Stats
	Policy() conflict.Policy

	conflict.LeaseStore
	Meta(name string) ([]byte, bool, error)
	PutMeta(name string, v []byte) error
	LoadMembers() ([]byte, error)
	SaveMembers(table []byte) error

	AddHint(target string, key []byte, obj *conflict.Object, created time.Time) error
	Hints(target string, limit int) ([]storage.Hint, error)
	HintsAfter(target string, after []byte, limit int) ([]storage.Hint, error)
	HintBytes(target string) (int64, error)
	DeleteHint(h storage.Hint) error
	DropHints(target string) (int, error)

	// Close must be idempotent: the suite closes engines before reopening
	// them, and the test's cleanup may close them again.
	Close() error
}

var _ Engine = (*storage.Engine)(nil)

// Open opens a bbolt engine with cfg and registers a cleanup that, unless
// the test closed it already, verifies it (Verify), then closes it and
// runs bbolt's consistency check on its file (CheckFile), failing the test
// on any error.
func Open(t testing.TB, cfg storage.Config) *storage.Engine {
	t.Helper()
	e, err := storage.Open(cfg)
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	t.Cleanup(func() {
		if err := Verify(e); err != nil && !errors.Is(err, storage.ErrClosed) {
			t.Errorf("verify on close: %v", err)
		}
		if err := e.Close(); err != nil {
			t.Errorf("close storage: %v", err)
		}
		CheckFile(t, e.Path())
	})
	return e
}

// CheckFile opens the bbolt file at path read-only and fails the test
// with every error bbolt's consistency check (Tx.Check) reports. The file
// must not be open for writing.
func CheckFile(t testing.TB, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Errorf("check %s: open: %v", path, err)
		return
	}
	defer func() { _ = db.Close() }()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Errorf("check %s: bbolt consistency check failed: %v", path, err)
	}
}
