package storage_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

func configIn(dir string) storage.Config {
	cfg := storage.DefaultConfig()
	cfg.Dir = dir
	return cfg
}

func TestOpen_createsMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	e := storagetest.Open(t, configIn(dir))
	if e.Path() != filepath.Join(dir, "data.db") {
		t.Fatalf("data file %s", e.Path())
	}
	if _, err := os.Stat(e.Path()); err != nil {
		t.Fatal(err)
	}
}

// TestOpen_syncsNewDirectoryEntries checks that Open fsyncs the directory
// of a data file it creates, and the directories it creates for it with
// their parent, so a crash right after cannot lose their entries; and that
// reopening an existing file syncs nothing.
func TestOpen_syncsNewDirectoryEntries(t *testing.T) {
	root := t.TempDir()
	existing := filepath.Join(root, "existing")
	if err := os.Mkdir(existing, 0o750); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir string
		want      []string
	}{
		{"new dirs", filepath.Join(root, "a", "b"), []string{filepath.Join(root, "a", "b"), filepath.Join(root, "a"), root}},
		{"existing empty dir", existing, []string{existing}},
		{"existing data file", existing, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var synced []string
			cfg := configIn(tt.dir)
			cfg.OnSyncDir = func(dir string) { synced = append(synced, dir) }
			e, err := storage.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(synced, tt.want) {
				t.Errorf("directories synced = %q, want %q", synced, tt.want)
			}
		})
	}
}

func TestOpen_notADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"a file":              file,
		"a path under a file": filepath.Join(file, "sub"),
	}
	for name, dir := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := storage.Open(configIn(dir))
			want := fmt.Sprintf("data dir %q is not a directory", dir)
			if err == nil || err.Error() != want || !errors.Is(err, storage.ErrDataDir) {
				t.Fatalf("got %v, want %q", err, want)
			}
		})
	}
}

// TestOpen_readOnlyDir mounts a read-only tmpfs in a mount namespace of its
// own: as root, permission bits would not stop the engine. It fails, not
// skips, where unshare cannot do that.
func TestOpen_readOnlyDir(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("this test needs unshare(1) to mount a read-only file system in a mount namespace: %v", err)
	}
	dir := t.TempDir()
	c := startChild(t, "read-only", dir, unshare, "-m")
	for _, d := range []string{dir, filepath.Join(dir, "missing")} {
		got := c.line(t)
		want := fmt.Sprintf("data dir %q is not writable: read-only file system", d)
		if got != want {
			t.Fatalf("got  %q\nwant %q", got, want)
		}
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("unshare -m %s: %v (unshare needs CAP_SYS_ADMIN to create a mount namespace)", os.Args[0], err)
	}
}

func TestOpen_inUse(t *testing.T) {
	tests := map[string]func(t *testing.T, dir string){
		"by another engine": func(t *testing.T, dir string) {
			storagetest.Open(t, configIn(dir))
		},
		"by another process": func(t *testing.T, dir string) {
			c := startChild(t, "hold-lock", dir)
			if got := c.line(t); got != "open" {
				t.Fatalf("child said %q", got)
			}
		},
	}
	for name, hold := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			hold(t, dir)
			cfg := configIn(dir)
			cfg.LockTimeout = 300 * time.Millisecond
			start := time.Now()
			e, err := storage.Open(cfg)
			if err == nil {
				_ = e.Close()
				t.Fatal("second open succeeded")
			}
			want := fmt.Sprintf("data dir %q is in use by another kvnode (lock on %s)", dir, storage.DataFile(dir))
			if err.Error() != want || !errors.Is(err, storage.ErrInUse) {
				t.Fatalf("got %q, want %q", err, want)
			}
			// bbolt polls the lock every 50ms and gives up within the timeout.
			if d := time.Since(start); d < cfg.LockTimeout/2 || d > cfg.LockTimeout+2*time.Second {
				t.Fatalf("gave up after %v, lock timeout %v", d, cfg.LockTimeout)
			}
		})
	}
}

// writeValidFile creates a data file in dir holding some objects, closed.
func writeValidFile(t *testing.T, dir string) {
	t.Helper()
	e, err := storage.Open(configIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Go(func() {
			for i := w; i < 2000; i += 20 {
				obj := storagetest.Register(storagetest.ActorA, uint64(i+1), 1, strings.Repeat("v", 100))
				if _, err := e.Merge(storagetest.Key(i), obj); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// overwrite writes n garbage bytes at off into the data file in dir.
func overwrite(t *testing.T, dir string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(storage.DataFile(dir), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", (n+3)/4))[:n]
	if _, err := f.WriteAt(garbage, off); err != nil {
		t.Fatal(err)
	}
}

// writeBoltFile creates a bare bbolt file in dir and runs fn in an update.
func writeBoltFile(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(storage.DataFile(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_corruptFile(t *testing.T) {
	const page = 4096
	tests := map[string]func(t *testing.T, dir string){
		"garbage bytes": func(t *testing.T, dir string) {
			if err := os.WriteFile(storage.DataFile(dir), []byte(strings.Repeat("garbage!", 2048)), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"both meta pages overwritten": func(t *testing.T, dir string) {
			writeValidFile(t, dir)
			overwrite(t, dir, 0, 2*page)
		},
		"meta page checksums broken": func(t *testing.T, dir string) {
			writeValidFile(t, dir)
			overwrite(t, dir, 16+32, 8) // inside each meta, before the checksum
			overwrite(t, dir, page+16+32, 8)
		},
		"truncated to 100 bytes": func(t *testing.T, dir string) {
			writeValidFile(t, dir)
			if err := os.Truncate(storage.DataFile(dir), 100); err != nil {
				t.Fatal(err)
			}
		},
		"truncated to its meta pages": func(t *testing.T, dir string) {
			writeValidFile(t, dir)
			if err := os.Truncate(storage.DataFile(dir), 2*page); err != nil {
				t.Fatal(err)
			}
		},
		"every page after the meta pages overwritten": func(t *testing.T, dir string) {
			writeValidFile(t, dir)
			fi, err := os.Stat(storage.DataFile(dir))
			if err != nil {
				t.Fatal(err)
			}
			overwrite(t, dir, 2*page, int(fi.Size())-2*page)
		},
		"a bucket missing": func(t *testing.T, dir string) {
			writeBoltFile(t, dir, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("objects"))
				return err
			})
		},
		"no format version": func(t *testing.T, dir string) {
			writeValidFile(t, dir)
			writeBoltFile(t, dir, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("meta")).Delete([]byte("sys/format"))
			})
		},
	}
	for name, corrupt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			corrupt(t, dir)
			for range 2 { // the failed open must not keep the file locked
				cfg := configIn(dir)
				cfg.LockTimeout = 100 * time.Millisecond
				e, err := storage.Open(cfg)
				if err == nil {
					_ = e.Close()
					t.Fatal("open of a corrupt file succeeded")
				}
				prefix := fmt.Sprintf("data file %q is corrupt: ", storage.DataFile(dir))
				msg := err.Error()
				if !strings.HasPrefix(msg, prefix) || !strings.HasSuffix(msg, "; refusing to start") ||
					strings.Contains(msg, "\n") || !errors.Is(err, storage.ErrCorrupt) {
					t.Fatalf("got %q, want %q...; refusing to start", msg, prefix)
				}
				t.Log(msg)
			}
		})
	}
}

func TestOpen_emptyFileIsNew(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(storage.DataFile(dir), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e := storagetest.Open(t, configIn(dir))
	if _, err := e.Merge([]byte("k"), storagetest.Register(storagetest.ActorA, 1, 1, "v")); err != nil {
		t.Fatal(err)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := map[string]struct {
		change func(*storage.Config)
		want   string
	}{
		"default with a dir": {func(*storage.Config) {}, ""},
		"zero but the dir":   {func(c *storage.Config) { *c = storage.Config{Dir: "d"} }, ""},
		"no dir":             {func(c *storage.Config) { c.Dir = "" }, "invalid storage config: data dir is empty"},
		"unknown policy":     {func(c *storage.Config) { c.Policy = 9 }, "invalid storage config: unknown conflict policy 9"},
		"negative batch":     {func(c *storage.Config) { c.MaxBatch = -1 }, "invalid storage config: max batch is -1, must not be negative"},
		"negative timeout":   {func(c *storage.Config) { c.LockTimeout = -time.Second }, "invalid storage config: lock timeout is -1s, must not be negative"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := configIn("d")
			tc.change(&cfg)
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want || !errors.Is(err, storage.ErrInvalidConfig)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
