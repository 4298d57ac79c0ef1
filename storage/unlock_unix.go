//go:build unix

package storage

import (
	"os"
	"syscall"
)

// unlockFile releases the lock bbolt took on f. Closing f alone would not
// when bbolt had already mapped it: the mapping keeps the open file, and
// with it the lock, alive.
func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
