package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/quorumkv/quorumkv/conflict"
)

// Open opens the engine in cfg.Dir, creating the directory and the data
// file if missing, and starts its committer. The errors a node shows at
// start are one line each, wrap ErrInvalidConfig, ErrDataDir, ErrInUse or
// ErrCorrupt, and name the directory or file:
//
//	data dir "X" is not a directory
//	data dir "X" is not writable: read-only file system
//	data dir "X" is in use by another kvnode (lock on X/data.db)
//	data file "X/data.db" is corrupt: invalid database; refusing to start
//
// Open waits at most cfg.LockTimeout for the file lock. When it creates the
// data file, or directories, it fsyncs the directories that hold their
// entries before it returns. The caller owns the Engine and must Close it.
func Open(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	created, err := prepareDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	path := DataFile(cfg.Dir)
	fi, err := os.Stat(path)
	newFile := err != nil || fi.Size() == 0 // bbolt creates or initializes it
	db, err := openBolt(cfg.Dir, path, cfg.LockTimeout)
	if err != nil {
		return nil, err
	}
	// The data file's entry in its directory, and the entries of the
	// directories created for it, are durable only once their directories
	// are fsync'd, child first.
	newLog, err := makeWALDir(cfg.Dir)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if (newFile || newLog) && len(created) == 0 {
		created = []string{cfg.Dir}
	}
	for _, d := range created {
		if err := syncDir(d); err != nil {
			_ = db.Close()
			return nil, dirError(d, "cannot be synced", err)
		}
		if cfg.OnSyncDir != nil {
			cfg.OnSyncDir(d)
		}
	}
	state, logPos, err := loadLayout(db)
	var newer *newerFormatError
	switch {
	case errors.As(err, &newer):
		_ = db.Close()
		return nil, &openError{msg: fmt.Sprintf("data dir %q: %v; refusing to start", cfg.Dir, err), sentinel: ErrDataDir, cause: err}
	case errors.Is(err, errInit):
		_ = db.Close()
		return nil, fmt.Errorf("%w: %w", ErrDataDir, err)
	case err != nil:
		_ = db.Close()
		return nil, corruptError(path, err)
	}
	e := &Engine{
		cfg:       cfg,
		path:      path,
		db:        db,
		reqs:      make(chan *request, cfg.MaxBatch),
		done:      make(chan struct{}),
		state:     state,
		active:    newMemtable(logPos),
		pending:   make(map[string]*record),
		logDone:   make(chan struct{}),
		flushKick: make(chan struct{}, 1),
		flushStop: make(chan struct{}),
		flushDone: make(chan struct{}),
		failed:    make(chan struct{}),
	}
	go e.commitLoop()
	next, err := e.openLog(logPos)
	if err != nil {
		e.gate.Lock()
		e.closed, e.reqsClosed = true, true
		close(e.reqs)
		e.gate.Unlock()
		<-e.done
		_ = db.Close()
		return nil, err
	}
	maxGroup := cfg.MaxBatch
	if !cfg.GroupCommit {
		maxGroup = 1
	}
	e.log = &logWriter{
		dir:       WALDir(cfg.Dir),
		segBytes:  cfg.SegmentBytes,
		maxGroup:  maxGroup,
		next:      next,
		kick:      make(chan struct{}, 1),
		onSyncDir: cfg.OnSyncDir,
	}
	go func() {
		defer close(e.logDone)
		e.log.run(e.applyDurable, e.fail)
	}()
	go e.flushLoop()
	return e, nil
}

// prepareDir creates dir if missing and checks that it is a writable
// directory. When it creates dir (and maybe missing parents), it returns
// the directories whose entries changed: dir, its parents it created, and
// the existing directory the first was created in, child first.
func prepareDir(dir string) (created []string, err error) {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return nil, notDirError(dir, nil)
	case errors.Is(err, fs.ErrNotExist):
		for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
			created = append(created, d)
			if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
				break
			}
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, dirError(dir, "cannot be created", err)
		}
	case err != nil:
		return nil, dirError(dir, "cannot be read", err)
	}
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return nil, dirError(dir, "is not writable", err)
	}
	name := f.Name()
	err = f.Close()
	if rmErr := os.Remove(name); err == nil {
		err = rmErr
	}
	if err != nil {
		return nil, dirError(dir, "is not writable", err)
	}
	return created, nil
}

// syncDir fsyncs directory dir, making the entries created in it durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// dirError reports a data directory Open cannot use. An ENOTDIR or EROFS
// cause gets the message an operator acts on; the cause's path is left out
// since the message names the directory.
func dirError(dir, what string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		return notDirError(dir, err)
	case errors.Is(err, syscall.EROFS):
		what = "is not writable"
	}
	cause := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		cause = pe.Err
	}
	return &openError{
		msg:      fmt.Sprintf("data dir %q %s: %v", dir, what, cause),
		sentinel: ErrDataDir,
		cause:    err,
	}
}

func notDirError(dir string, cause error) error {
	return &openError{msg: fmt.Sprintf("data dir %q is not a directory", dir), sentinel: ErrDataDir, cause: cause}
}

func corruptError(path string, cause error) error {
	return &openError{
		msg:      fmt.Sprintf("data file %q is corrupt: %v; refusing to start", path, cause),
		sentinel: ErrCorrupt,
		cause:    cause,
	}
}

// openBolt opens the bbolt file at path. bbolt panics on some corrupt
// files; the panic becomes a corrupt error, and the file is unlocked and
// closed so a later Open is not refused as "in use" (its mapping, if bbolt
// made one, is left: the process is about to report the error and exit).
func openBolt(dir, path string, lockTimeout time.Duration) (db *bolt.DB, err error) {
	var file *os.File
	opts := &bolt.Options{
		Timeout: lockTimeout,
		// The freelist stays synced (NoFreelistSync false): rebuilding it
		// on open walks the file in a goroutine of bbolt's, where a panic
		// on a corrupt page could not be recovered.
		FreelistType: bolt.FreelistMapType,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	// A corrupt file can make bbolt read past the end of its mapping: let
	// that fault panic, to be recovered below, instead of crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				unlockFile(file)
				_ = file.Close()
			}
			db, err = nil, corruptError(path, fmt.Errorf("bbolt panicked: %v", r))
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	var errno syscall.Errno
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &openError{
			msg:      fmt.Sprintf("data dir %q is in use by another kvnode (lock on %s)", dir, path),
			sentinel: ErrInUse,
			cause:    err,
		}
	case file == nil, errors.As(err, &errno) && !errors.Is(err, syscall.EINVAL):
		// The file could not be opened, locked or mapped: not a question
		// of its content.
		return nil, fmt.Errorf("%w: cannot open data file %q: %w", ErrDataDir, path, err)
	}
	return nil, corruptError(path, err)
}

// loadLayout checks the buckets and engine metadata of db, creating them in
// a new file, and returns the counters as of the last commit. A panic of
// bbolt on a corrupt page is returned as an error.
func loadLayout(db *bolt.DB) (c counters, logPos uint64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked: %v", r)
		}
	}()
	fresh, upgrade := false, false
	err = db.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(db.Path())
		if err != nil {
			return err
		}
		if fi.Size() < tx.Size() {
			return fmt.Errorf("truncated: %d bytes, its pages need %d", fi.Size(), tx.Size())
		}
		missing := 0
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				missing++
			}
		}
		switch missing {
		case len(allBuckets):
			fresh = true
			return nil
		case 0:
		default:
			for _, name := range allBuckets {
				if tx.Bucket(name) == nil {
					return fmt.Errorf("bucket %q is missing", name)
				}
			}
		}
		version, err := checkLayout(tx)
		if err != nil {
			return err
		}
		upgrade = version < formatVersion
		if c, err = readCounters(tx.Bucket(bucketMeta)); err != nil {
			return err
		}
		if logPos, err = readLogPos(tx.Bucket(bucketMeta).Get(metaLogPos)); err != nil {
			return err
		}
		if tx.Bucket(bucketMeta).Get(metaHidden) == nil {
			// Written before the counter existed: count once, stored at the
			// next commit.
			c.hidden, err = countHidden(tx.Bucket(bucketObjects))
		}
		return err
	})
	if err == nil && upgrade {
		err = db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(metaFormat, []byte{formatVersion})
		})
	}
	if err != nil || !fresh {
		return c, logPos, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("create bucket %q: %w", name, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(metaFormat, []byte{formatVersion})
	})
	if err != nil {
		return counters{}, 0, fmt.Errorf("%w %q: %w", errInit, db.Path(), err)
	}
	return counters{}, 0, nil
}

// errInit marks a failure to set up a new data file: not corruption.
var errInit = errors.New("cannot initialize data file")

// checkLayout verifies the format version and the shape of the Merkle
// chunks.
// countHidden counts the objects with a hidden part (Stats.HiddenParts).
func countHidden(objects *bolt.Bucket) (uint64, error) {
	var n uint64
	err := objects.ForEach(func(k, v []byte) error {
		o, err := conflict.DecodeObject(v)
		if err != nil {
			return fmt.Errorf("%w: object under %x: %w", ErrCorrupt, k, err)
		}
		if o.HiddenPart() {
			n++
		}
		return nil
	})
	return n, err
}

func checkLayout(tx *bolt.Tx) (version byte, err error) {
	v := tx.Bucket(bucketMeta).Get(metaFormat)
	if len(v) != 1 || v[0] == 0 {
		return 0, errors.New("format version is missing")
	}
	if v[0] > formatVersion {
		return 0, &newerFormatError{version: v[0]}
	}
	return v[0], tx.Bucket(bucketMerkle).ForEach(checkChunk)
}

// newerFormatError: the data file was written by a newer kvnode.
type newerFormatError struct{ version byte }

func (e *newerFormatError) Error() string {
	return fmt.Sprintf("format version %d is newer than this kvnode reads (up to %d): run the kvnode that wrote it, or a newer one", e.version, formatVersion)
}
