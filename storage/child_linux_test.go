package storage_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/quorumkv/quorumkv/storage"
)

// readOnlyChild runs in a mount namespace of its own (unshare -m): it
// mounts a read-only tmpfs on dir and prints the error of Open on dir and
// on a missing directory inside it, one per line.
func readOnlyChild(dir string) error {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_RDONLY, "size=1m"); err != nil {
		return fmt.Errorf("mount read-only tmpfs on %s: %w", dir, err)
	}
	defer func() { _ = syscall.Unmount(dir, 0) }()
	for _, d := range []string{dir, filepath.Join(dir, "missing")} {
		cfg := storage.DefaultConfig()
		cfg.Dir = d
		e, err := storage.Open(cfg)
		if err == nil {
			_ = e.Close()
			return fmt.Errorf("open %s on a read-only file system succeeded", d)
		}
		if !errors.Is(err, storage.ErrDataDir) || !errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("open %s: %w: does not wrap ErrDataDir and EROFS", d, err)
		}
		fmt.Println(err)
	}
	return nil
}
