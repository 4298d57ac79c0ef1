package storage

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
)

// Defaults applied by DefaultConfig, and by Open to zero fields.
const (
	// DefaultMaxBatch is how many writes one group commit takes at most.
	DefaultMaxBatch = 512
	// DefaultLockTimeout is how long Open waits for the data file's lock.
	DefaultLockTimeout = 2 * time.Second

	// MaxFlushInterval bounds FlushInterval: bbolt is never further
	// behind the commit log.
	MaxFlushInterval = 5 * time.Second
)

// Config configures an Engine.
type Config struct {
	// Dir is the data directory, created (with its parents) if missing; the
	// data file is Dir/data.db. The zero value is refused by Validate.
	Dir string

	// Policy is the cluster's conflict policy, used by Merge and AddHint.
	// Zero means conflict.LWW, the cluster default.
	Policy conflict.Policy

	// GroupCommit lets concurrent writers share one fdatasync of the
	// commit log. DefaultConfig sets it; the zero value false syncs the log
	// once per write (for comparison).
	GroupCommit bool

	// MaxBatch bounds how many records one fdatasync of the commit log
	// covers, and how many hint, metadata and member-table writes one bbolt
	// transaction covers. Zero means DefaultMaxBatch.
	MaxBatch int

	// FlushInterval is how long durable records may wait in memory (and
	// in the commit log) before they are written to bbolt in one batched
	// transaction. Zero means DefaultFlushInterval; at most 5s.
	FlushInterval time.Duration

	// FlushBytes is the size of the records waiting in memory that starts
	// a flush before FlushInterval. Zero means DefaultFlushBytes.
	FlushBytes int

	// SegmentBytes is the size past which the commit log starts a new
	// segment file. Zero means DefaultSegmentBytes.
	SegmentBytes int64

	// Logger receives what the engine must tell an operator: a torn log
	// tail dropped on open, a failed flush or log write. Nil logs nothing.
	Logger *slog.Logger

	// OnFlush, if set, is called after each flush to bbolt with the
	// number of keys it wrote. A test seam and metric hook; nil calls
	// nothing. It must not block or call the Engine.
	OnFlush func(keys int)

	// LockTimeout is how long Open waits for the lock on the data file
	// before it reports the directory in use. Zero means DefaultLockTimeout.
	LockTimeout time.Duration

	// OnSync, if set, is called after each fdatasync of the commit log,
	// before the writes it covered are acknowledged, with the number of
	// records it made durable; writes that changed nothing need no record
	// and are not counted. It must not block or call the Engine. A test
	// seam and metric hook; nil (the zero value) calls nothing.
	OnSync func(writes int)

	// OnSyncDir, if set, is called by Open with each directory it fsyncs,
	// after the fsync returned: the data directory when Open created the
	// data file in it, and every directory Open created with the one it was
	// created in, so a crash cannot lose their entries. A test seam; nil (the
	// zero value) calls nothing.
	OnSyncDir func(dir string)
}

// DefaultConfig returns the configuration a node uses: LWW, group commit,
// DefaultMaxBatch and DefaultLockTimeout. Dir must still be set.
func DefaultConfig() Config {
	return Config{
		Policy:      conflict.LWW,
		GroupCommit: true,
		MaxBatch:    DefaultMaxBatch,
		LockTimeout: DefaultLockTimeout,
	}
}

// Validate reports the first unusable field.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: data dir is empty", ErrInvalidConfig)
	case c.Policy != 0 && c.Policy != conflict.LWW && c.Policy != conflict.Siblings:
		return fmt.Errorf("%w: unknown conflict policy %d", ErrInvalidConfig, c.Policy)
	case c.MaxBatch < 0:
		return fmt.Errorf("%w: max batch is %d, must not be negative", ErrInvalidConfig, c.MaxBatch)
	case c.FlushInterval < 0 || c.FlushInterval > MaxFlushInterval:
		return fmt.Errorf("%w: flush interval is %v, must be 0 to %v", ErrInvalidConfig, c.FlushInterval, MaxFlushInterval)
	case c.FlushBytes < 0:
		return fmt.Errorf("%w: flush bytes is %d, must not be negative", ErrInvalidConfig, c.FlushBytes)
	case c.SegmentBytes < 0:
		return fmt.Errorf("%w: segment bytes is %d, must not be negative", ErrInvalidConfig, c.SegmentBytes)
	case c.LockTimeout < 0:
		return fmt.Errorf("%w: lock timeout is %v, must not be negative", ErrInvalidConfig, c.LockTimeout)
	}
	return nil
}

// withDefaults returns c with its zero fields replaced by defaults.
func (c Config) withDefaults() Config {
	if c.Policy == 0 {
		c.Policy = conflict.LWW
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.FlushBytes == 0 {
		c.FlushBytes = DefaultFlushBytes
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	return c
}
