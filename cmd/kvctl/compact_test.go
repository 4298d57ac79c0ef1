package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

// stoppedDataDir returns the data dir of a stopped node that held n keys
// of 4 KiB and deleted all but keep.
func stoppedDataDir(t *testing.T, n, keep int) string {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.Dir = t.TempDir()
	e, err := storage.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := e.Merge(storagetest.Key(i), storagetest.Register(9, uint64(i+1), 100, strings.Repeat("v", 4096))); err != nil {
			t.Fatal(err)
		}
	}
	for i := keep; i < n; i++ {
		if err := e.Delete(storagetest.Key(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg.Dir
}

func TestCompact_shrinksAStoppedNodesFile(t *testing.T) {
	dir := stoppedDataDir(t, 200, 5)
	env := map[string]string{"KVCTL_ENDPOINTS": "not an endpoint"} // compact needs none
	r := invocation{args: []string{"compact", "--data-dir", dir}, env: env}.run(t)
	if r.code != 0 || !regexp.MustCompile(`^compacted .*data\.db: [0-9]+ -> [0-9]+ bytes \(.* -> .*\)\n$`).MatchString(r.stdout) {
		t.Fatalf("compact: %+v", r)
	}
	cfg := storage.DefaultConfig()
	cfg.Dir = dir
	e := storagetest.Open(t, cfg)
	if st := e.Stats(); st.Keys != 5 {
		t.Fatalf("after compaction: %d keys, want 5", st.Keys)
	}

	out := filepath.Join(t.TempDir(), "copy.db")
	dir2 := stoppedDataDir(t, 50, 1)
	r = invocation{args: []string{"-o", "json", "compact", "--data-dir", dir2, "--out", out}}.run(t)
	var got compactJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || got.Out != out || got.BytesAfter >= got.BytesBefore || got.DataDir != dir2 {
		t.Fatalf("compact --out -o json: %+v (%+v)", r, got)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != got.BytesAfter {
		t.Fatalf("the copy: %v", err)
	}
}

func TestCompact_errors(t *testing.T) {
	running := t.TempDir()
	cfg := storage.DefaultConfig()
	cfg.Dir = running
	storagetest.Open(t, cfg) // open until the test ends: a running node
	exists := filepath.Join(t.TempDir(), "exists")
	if err := os.WriteFile(exists, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	stopped := stoppedDataDir(t, 2, 2)
	for name, tc := range map[string]struct {
		args []string
		code int
		msg  string
	}{
		"running node":   {[]string{"--data-dir", running}, exitOther, "in use by a running kvnode"},
		"no data file":   {[]string{"--data-dir", t.TempDir()}, exitUsage, "no such file"},
		"out exists":     {[]string{"--data-dir", stopped, "--out", exists}, exitUsage, "never overwrites"},
		"no --data-dir":  {nil, exitUsage, "--data-dir is required"},
		"unknown output": {[]string{"--data-dir", stopped, "-o", "yaml"}, exitUsage, "unknown output format"},
	} {
		t.Run(name, func(t *testing.T) {
			r := invocation{args: append([]string{"compact"}, tc.args...)}.run(t)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("got %+v, want exit %d with %q", r, tc.code, tc.msg)
			}
		})
	}
}
