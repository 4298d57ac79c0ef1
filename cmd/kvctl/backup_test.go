package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/client/clienttest"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

// snapshot returns the snapshot of a data file holding keys 0 to n-1.
func snapshot(t *testing.T, n int) []byte {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.Dir = t.TempDir()
	e := storagetest.Open(t, cfg)
	for i := range n {
		if _, err := e.Merge(storagetest.Key(i), storagetest.Register(9, uint64(i+1), 100, "v")); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// serveBackup makes s stream data in chunks of 4 KiB with a true trailer.
func serveBackup(s *clienttest.Server, data []byte) {
	var chunks [][]byte
	for b := data; len(b) > 0; b = b[min(len(b), 4096):] {
		chunks = append(chunks, b[:min(len(b), 4096)])
	}
	sum := sha256.Sum256(data)
	s.SetBackup(chunks, &quorumkvv1.BackupTrailer{Length: uint64(len(data)), Sha256: sum[:], NodeId: s.NodeID}, false)
}

func TestBackupRestore_roundTrip(t *testing.T) {
	s := clienttest.Start(t, "n3")
	data := snapshot(t, 20)
	serveBackup(s, data)
	file := filepath.Join(t.TempDir(), "n3.qkvbackup")
	r := kvctl(t, s.Addr(), "-o", "json", "backup", "--out", file)
	if r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	var got backupJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got.File != file || got.Bytes != int64(len(data)) || got.NodeID != "n3" || got.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("backup -o json: %+v", got)
	}
	if _, err := os.Stat(file + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s.tmp left: %v", file, err)
	}

	dir := filepath.Join(t.TempDir(), "n3")
	env := map[string]string{"KVCTL_ENDPOINTS": "not an endpoint"} // restore needs none
	r = invocation{args: []string{"restore", "--in", file, "--data-dir", dir}, env: env}.run(t)
	if r.code != 0 || r.stdout != "OK\n" {
		t.Fatalf("restore: %+v", r)
	}
	cfg := storage.DefaultConfig()
	cfg.Dir = dir
	e := storagetest.Open(t, cfg)
	if st := e.Stats(); st.Keys != 20 {
		t.Fatalf("restored %d keys, want 20", st.Keys)
	}
	if l, ok, err := e.LoadLease(); err != nil || !ok || l.Actor == 0 || l.Actor == 9 {
		t.Fatalf("restored lease %+v %v %v: want a new actor", l, ok, err)
	}
}

func TestBackup_textPrintsOK(t *testing.T) {
	s := clienttest.Start(t, "n1")
	serveBackup(s, []byte("not really a data file"))
	file := filepath.Join(t.TempDir(), "b")
	if r := kvctl(t, s.Addr(), "backup", "--out", file); r.code != 0 || r.stdout != "OK\n" || !strings.Contains(r.stderr, "22 bytes received from n1") {
		t.Fatalf("backup: %+v", r)
	}
}

func TestBackup_errors(t *testing.T) {
	data := []byte("0123456789")
	sum := sha256.Sum256(data)
	for name, tc := range map[string]struct {
		chunks  [][]byte
		trailer *quorumkvv1.BackupTrailer
		exists  bool
		stall   bool
		code    int
		msg     string
	}{
		"existing file":     {exists: true, code: exitUsage, msg: "exists: refusing to overwrite it"},
		"no trailer":        {chunks: [][]byte{data}, code: exitOther, msg: "ended without its trailer"},
		"checksum mismatch": {chunks: [][]byte{data}, trailer: &quorumkvv1.BackupTrailer{Length: 10, Sha256: make([]byte, 32)}, code: exitOther, msg: "is damaged"},
		"stalled stream":    {chunks: [][]byte{data}, stall: true, code: exitNoEndpoint, msg: "no backup data within 2s"},
		"length mismatch":   {chunks: [][]byte{data[:5]}, trailer: &quorumkvv1.BackupTrailer{Length: 10, Sha256: sum[:]}, code: exitOther, msg: "is damaged"},
	} {
		t.Run(name, func(t *testing.T) {
			s := clienttest.Start(t, "n1")
			s.SetBackup(tc.chunks, tc.trailer, tc.stall)
			file := filepath.Join(t.TempDir(), "b")
			if tc.exists {
				if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := kvctl(t, s.Addr(), "backup", "--out", file)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("got %+v, want exit %d with %q", r, tc.code, tc.msg)
			}
			if tc.exists {
				if !strings.Contains(r.stderr, file) {
					t.Fatalf("error names no file: %q", r.stderr)
				}
				if b, _ := os.ReadFile(file); string(b) != "keep" || len(s.Requests()) != 0 {
					t.Fatalf("existing file overwritten (%q) or node asked (%d requests)", b, len(s.Requests()))
				}
			} else if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed backup left %s: %v", file, err)
			}
			if _, err := os.Stat(file + ".tmp"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed backup left %s.tmp: %v", file, err)
			}
		})
	}
}

func TestRestore_errors(t *testing.T) {
	s := clienttest.Start(t, "n1")
	serveBackup(s, snapshot(t, 1))
	good := filepath.Join(t.TempDir(), "good")
	if r := kvctl(t, s.Addr(), "backup", "--out", good); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated")
	if err := os.WriteFile(truncated, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "data.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		code int
		msg  string
	}{
		"non-empty dir":  {[]string{"--in", good, "--data-dir", full}, exitUsage, "is not empty"},
		"damaged file":   {[]string{"--in", bad, "--data-dir", "NEW"}, exitOther, "checksum mismatch"},
		"truncated file": {[]string{"--in", truncated, "--data-dir", "NEW"}, exitOther, "truncated"},
		"missing file":   {[]string{"--in", bad + "-missing", "--data-dir", "NEW"}, exitOther, "no such file"},
		"no --in":        {[]string{"--data-dir", "NEW"}, exitUsage, "--in and --data-dir are required"},
	} {
		t.Run(name, func(t *testing.T) {
			newDir := filepath.Join(t.TempDir(), "new")
			args := []string{"restore"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "NEW", newDir))
			}
			r := invocation{args: args}.run(t)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("got %+v, want exit %d with %q", r, tc.code, tc.msg)
			}
			if _, err := os.Stat(newDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused restore created %s: %v", newDir, err)
			}
		})
	}
}
