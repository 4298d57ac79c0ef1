package storage

import (
	"fmt"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
)

// Defaults applied by DefaultConfig, and by Open to zero fields.
const (
	// DefaultMaxBatch is how many writes one group commit takes at most.
	DefaultMaxBatch = 512
	// DefaultLockTimeout is how long Open waits for the data file's lock.
	DefaultLockTimeout = 2 * time.Second
)

// Config configures an Engine.
type Config struct {
	// Dir is the data directory, created (with its parents) if missing; the
	// data file is Dir/data.db. The zero value is refused by Validate.
	Dir string

	// Policy is the cluster's conflict policy, used by Merge and AddHint.
	// Zero means conflict.LWW, the cluster default.
	Policy conflict.Policy

	// GroupCommit lets concurrent writers share one transaction and one
	// fsync. DefaultConfig sets it; the zero value false commits and syncs
	// every write in a transaction of its own (for comparison).
	GroupCommit bool

	// MaxBatch bounds how many writes one group commit covers. Zero means
	// DefaultMaxBatch. Ignored without GroupCommit.
	MaxBatch int

	// LockTimeout is how long Open waits for the lock on the data file
	// before it reports the directory in use. Zero means DefaultLockTimeout.
	LockTimeout time.Duration

	// OnSync, if set, is called by the committer after each durable
	// (fsync'd) commit, before the writes it covered are acknowledged, with
	// the number of writes whose changes it made durable; writes that
	// changed nothing need no commit and are not counted. It must not block
	// or call the Engine. A test seam; nil (the zero value) calls nothing.
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
	if !c.GroupCommit {
		c.MaxBatch = 1
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	return c
}
