package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/storage"
)

// A backup streams the node's data file in more than one chunk, with a
// trailer that matches it, and the bytes open as a data file holding what
// was written.
func TestKVServer_Backup_streamsTheDataFile(t *testing.T) {
	dir := t.TempDir()
	n1 := start(t, testConfig(t, dir, "n1"))
	await(t, 30*time.Second, "one alive normal member", func() error { return allNormal([]*testNode{n1}, 1) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New([]string{n1.n.grpcAddr}, client.WithTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	value := bytes.Repeat([]byte("v"), 64<<10)
	for i := range 40 { // well over one chunk
		if _, err := c.Put(ctx, fmt.Appendf(nil, "k%d", i), value); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	var buf bytes.Buffer
	var calls int
	var last int64
	res, err := c.Backup(ctx, &buf, func(n int64) { calls++; last = n })
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if res.NodeID != "n1" || res.Bytes != int64(buf.Len()) || !bytes.Equal(res.SHA256, sum[:]) {
		t.Fatalf("result %+v for %d bytes", res, buf.Len())
	}
	if calls < 2 || last != res.Bytes {
		t.Fatalf("progress called %d times, last with %d; want several, last with %d", calls, last, res.Bytes)
	}
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(copyDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(storage.DataFile(copyDir), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := storage.DefaultConfig()
	cfg.Dir = copyDir
	e, err := storage.Open(cfg)
	if err != nil {
		t.Fatalf("open the snapshot: %v", err)
	}
	defer e.Close()
	if s := e.Stats(); s.Keys != 40 {
		t.Fatalf("snapshot holds %d keys, want 40", s.Keys)
	}
}
