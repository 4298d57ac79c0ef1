package storage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/quorumkv/quorumkv/conflict"
)

// RestoreResult says what Restore wrote.
type RestoreResult struct {
	// Bytes is the size of the data file written.
	Bytes int64
	// SHA256 is its checksum, as the backup's trailer gives it.
	SHA256 [sha256.Size]byte
	// Actor is the new actor the restored node issues dots as.
	Actor conflict.ActorID
	// HintsDropped counts the hints the backup held.
	HintsDropped int
}

// Restore writes the data file held by the backup file in into the data
// directory dir, which must be missing or an empty directory (else
// ErrDataDir). It checks the backup (ErrBadBackup) before it writes anything, then builds
// the data file in dir/.restore, opens it and
//   - renews the actor: the backup's node went on issuing dots of its
//     actor after the backup was taken, and those dots live on other
//     replicas; the lease now holds a new random actor, which the node's
//     next start loads, so no dot is ever issued twice (DESIGN.md, Actors
//     and dots);
//   - drops every hint: they are older than what their targets hold since;
//
// and only then moves it into dir. A restore that fails removes
// dir/.restore; one cut short by a crash leaves it, and dir is then not
// empty: remove it to restore again.
//
// Restore does not check the node id: the node started on dir checks it
// against its --node-id as on any start.
func Restore(in, dir string) (RestoreResult, error) {
	var res RestoreResult
	if err := checkRestoreDir(dir); err != nil {
		return res, err
	}
	f, err := os.Open(in)
	if err != nil {
		return res, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return res, err
	}
	b, err := ReadBackup(f, fi.Size())
	if err != nil {
		return res, fmt.Errorf("%s: %w", in, err)
	}
	res.SHA256 = b.SHA256
	if _, err := prepareDir(dir); err != nil {
		return res, err
	}
	// The data file is built in a staging directory inside dir and moved
	// into place only once its actor is renewed: a restore cut short never
	// leaves a data file with the old actor where a node would open it.
	staging := filepath.Join(dir, restoreStagingDir)
	if err := os.Mkdir(staging, 0o750); err != nil {
		return res, dirError(dir, "cannot be written", err)
	}
	res, err = restoreInto(staging, b, res)
	if err == nil {
		err = moveDataFile(staging, dir)
	}
	if err != nil {
		_ = os.RemoveAll(staging)
		return res, err
	}
	return res, nil
}

// restoreStagingDir is the directory inside the data dir Restore builds
// the data file in.
const restoreStagingDir = ".restore"

// restoreInto writes b's data file into the empty directory staging, then
// renews its actor and drops its hints.
func restoreInto(staging string, b *Backup, res RestoreResult) (RestoreResult, error) {
	var err error
	if res.Bytes, err = writeDataFile(staging, b); err != nil {
		return res, err
	}
	cfg := DefaultConfig()
	cfg.Dir = staging
	e, err := Open(cfg)
	if err != nil {
		return res, err
	}
	res.Actor, res.HintsDropped, err = resetRestored(e)
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	return res, err
}

// moveDataFile renames staging's data file into dir, removes staging and
// makes both durable.
func moveDataFile(staging, dir string) error {
	if err := os.Rename(DataFile(staging), DataFile(dir)); err != nil {
		return fmt.Errorf("move the restored data file into place: %w", err)
	}
	// The staging engine was closed cleanly: its data file holds all of
	// its log.
	if err := os.RemoveAll(WALDir(staging)); err != nil {
		return dirError(staging, "cannot be removed", err)
	}
	if err := os.Remove(staging); err != nil {
		return dirError(staging, "cannot be removed", err)
	}
	if err := syncDir(dir); err != nil {
		return dirError(dir, "cannot be synced", err)
	}
	return nil
}

// checkRestoreDir refuses a dir that exists and is not an empty directory.
func checkRestoreDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return dirError(dir, "cannot be read", err)
	case len(entries) > 0:
		return &openError{msg: fmt.Sprintf("data dir %q is not empty: restore writes only into a new or empty directory", dir), sentinel: ErrDataDir}
	}
	return nil
}

// writeDataFile copies the backup's body to dir's data file, checking
// its checksum again as it goes (the backup file may change under us), and
// makes it durable. On failure it removes what it wrote.
func writeDataFile(dir string, b *Backup) (n int64, err error) {
	path := DataFile(dir)
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = out.Close()
			_ = os.Remove(path)
		}
	}()
	h := sha256.New()
	if n, err = io.Copy(io.MultiWriter(out, h), b.Body); err != nil {
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	if !bytes.Equal(h.Sum(nil), b.SHA256[:]) {
		return n, fmt.Errorf("%w: the backup file changed while it was restored", ErrBadBackup)
	}
	if err = out.Sync(); err != nil {
		return n, fmt.Errorf("sync %s: %w", path, err)
	}
	if err = out.Close(); err != nil {
		return n, fmt.Errorf("close %s: %w", path, err)
	}
	if err = syncDir(dir); err != nil {
		return n, dirError(dir, "cannot be synced", err)
	}
	return n, nil
}

// resetRestored renews the actor of a restored engine and drops its hints.
func resetRestored(e *Engine) (conflict.ActorID, int, error) {
	dots, err := conflict.OpenDotIssuer(e, 0, nil)
	if err != nil {
		return 0, 0, err
	}
	defer dots.Close()
	if err := dots.RenewActor(); err != nil {
		return 0, 0, fmt.Errorf("renew actor: %w", err)
	}
	n, err := e.dropAllHints()
	if err != nil {
		return 0, 0, err
	}
	return dots.Actor(), n, nil
}

// dropAllHints deletes every hint, for every target, once durable.
func (e *Engine) dropAllHints() (int, error) {
	var n int
	err := e.submit(func(st *txState) (bool, error) {
		var keys [][]byte
		c := st.hints.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := st.del(st.hints, k); err != nil {
				return false, fmt.Errorf("drop hints: %w", err)
			}
		}
		n = len(keys)
		st.counters.hints -= uint64(n)
		return n > 0, nil
	})
	return n, err
}
