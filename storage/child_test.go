package storage_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

// Some tests need another process: one that holds the data file's lock,
// one killed with SIGKILL while writing, one in a mount namespace of its
// own. They re-execute the test binary with these variables set; TestMain
// then runs runChild instead of the tests.
const (
	childEnv    = "QUORUMKV_STORAGE_TEST_CHILD"
	childDirEnv = "QUORUMKV_STORAGE_TEST_DIR"
)

// child is a re-executed test binary started by a test, which kills it (by
// its pid) and waits for it in cleanup.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

// startChild starts the test binary in child mode on dir, prefixed by
// wrapper (e.g. unshare -m) if given.
func startChild(t *testing.T, mode, dir string, wrapper ...string) *child {
	t.Helper()
	args := append(slices.Clone(wrapper), os.Args[0])
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return c
}

// line returns the child's next line of output, or fails the test with
// its exit status.
func (c *child) line(t *testing.T) string {
	t.Helper()
	if c.lines.Scan() {
		return c.lines.Text()
	}
	err := c.cmd.Wait()
	t.Fatalf("child %s ended before answering: %v", c.cmd.Path, err)
	return ""
}

func runChild(mode, dir string) int {
	var err error
	switch mode {
	case "hold-lock":
		err = holdLock(dir)
	case "write-until-killed":
		err = writeUntilKilled(dir)
	case "read-only":
		err = readOnlyChild(dir)
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// holdLock opens an engine on dir, says "open" and keeps it open until
// stdin is closed.
func holdLock(dir string) error {
	cfg := storage.DefaultConfig()
	cfg.Dir = dir
	e, err := storage.Open(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Println("open")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// writeUntilKilled merges keys from 16 writers and prints "acked KEY" for
// each write once Merge returned, until it is killed.
func writeUntilKilled(dir string) error {
	cfg := storage.DefaultConfig()
	cfg.Dir = dir
	// Flushes, segment switches and deletions all the time, so a kill
	// lands in every part of the cycle.
	cfg.FlushInterval = 25 * time.Millisecond
	cfg.SegmentBytes = 32 << 10
	e, err := storage.Open(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%02d-%06d", w, i)
				obj := storagetest.Register(storagetest.ActorA, uint64(w*1_000_000+i+1), int64(i), key)
				if _, err := e.Merge([]byte(key), obj); err != nil {
					fmt.Fprintln(os.Stderr, "merge:", err)
					return
				}
				mu.Lock()
				fmt.Fprintln(out, "acked", key)
				_ = out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return nil
}

// ackedKey parses a line of writeUntilKilled.
func ackedKey(line string) (string, bool) { return strings.CutPrefix(line, "acked ") }
