package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Space is how the data file's bytes are used.
type Space struct {
	// FileBytes is the size of the data file (Stats.StorageBytes).
	FileBytes int64
	// LiveBytes are the bytes of the pages that hold data: the part of
	// the file bbolt has used (its high-water mark) minus the pages on its
	// freelist, free or pending. FileBytes - LiveBytes is about what an
	// offline compaction (CompactFile) gives back.
	LiveBytes int64
}

// Space returns the data file's size and how much of it holds data. It
// reads the file as it is: records still in the commit log reach it with
// the next flush (FlushInterval at most), so a metrics scrape or a status
// call never forces one. After Close it fails.
func (e *Engine) Space() (Space, error) {
	var s Space
	fi, err := os.Stat(e.path)
	if err != nil {
		return s, fmt.Errorf("data file size: %w", err)
	}
	s.FileBytes = fi.Size()
	var used, free int64
	// Inside a read transaction the file cannot be closed under us.
	if err := e.db.View(func(tx *bolt.Tx) error {
		st := tx.DB().Stats()
		used = tx.Size()
		free = int64(st.FreePageN+st.PendingPageN) * int64(tx.DB().Info().PageSize)
		return nil
	}); err != nil {
		return s, fmt.Errorf("data file usage: %w", err)
	}
	s.LiveBytes = max(0, min(used, s.FileBytes)-free)
	return s, nil
}

// compactSuffix names the file CompactFile builds beside the data file.
const compactSuffix = ".compact"

// compactTxBytes bounds each transaction of the copy, so memory stays
// bounded however large the file.
const compactTxBytes = 64 << 20

// compactLockTimeout is how long CompactFile waits for the data file's
// lock: a running node holds it for as long as it runs.
const compactLockTimeout = 200 * time.Millisecond

// CompactFile rewrites the data file of dir, whose node must be stopped,
// without its free pages (bbolt's compaction), and returns the size of
// the data file and of the compacted copy. It holds the data file's lock
// throughout, so a node cannot start on it meanwhile, and refuses with
// ErrInUse a data dir whose node runs.
//
// With out empty, the copy replaces the data file: it is built in
// dir/data.db.compact, synced, and renamed over the data file, the
// directory synced after, so a crash leaves either the old file or the
// new one, and at worst a stale .compact file that the next run replaces.
// With out set, the copy is written to out (which must not exist, else
// ErrInvalidArgument) the same way, and the data dir is left as it was.
// Nothing else in dir is read or changed.
func CompactFile(dir, out string) (before, after int64, err error) {
	path := DataFile(dir)
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	before = fi.Size()
	target := path
	if out != "" {
		if _, err := os.Lstat(out); err == nil {
			return 0, 0, fmt.Errorf("%w: %s exists: compaction never overwrites a file", ErrInvalidArgument, out)
		}
		target = out
	}
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: compactLockTimeout, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return 0, 0, fmt.Errorf("%w: data dir %q is in use by a running kvnode (lock on %s): stop it first", ErrInUse, dir, path)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w: cannot open data file %q: %w", ErrDataDir, path, err)
	}
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close data file: %w", cerr)
		}
	}()
	tmp := target + compactSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, 0, fmt.Errorf("remove the stale %s: %w", tmp, err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType, PageSize: src.Info().PageSize})
	if err != nil {
		return 0, 0, fmt.Errorf("create %s: %w", tmp, err)
	}
	err = bolt.Compact(dst, src, compactTxBytes)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("compact %s into %s: %w", path, tmp, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("move %s to %s: %w", tmp, target, err)
	}
	if err := syncDirOf(target); err != nil {
		return 0, 0, err
	}
	fi, err = os.Stat(target)
	if err != nil {
		return 0, 0, err
	}
	return before, fi.Size(), nil
}

// syncDirOf fsyncs the directory holding path, making a rename in it
// durable.
func syncDirOf(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", filepath.Dir(path), err)
	}
	return nil
}
