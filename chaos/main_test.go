package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if kvnodeBuild.dir != "" {
		os.RemoveAll(kvnodeBuild.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// kvnodeBuild is kvnode built once, without -race, for the tests that run
// real nodes.
var kvnodeBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func kvnodeForTest(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHAOS_KVNODE"); p != "" {
		return p // a prebuilt kvnode, to try the tests against another build
	}
	kvnodeBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "quorumkv-chaos-bin-")
		if err != nil {
			kvnodeBuild.err = err
			return
		}
		kvnodeBuild.dir = dir
		kvnodeBuild.path = filepath.Join(dir, "kvnode")
		out, err := exec.Command("go", "build", "-o", kvnodeBuild.path, "../cmd/kvnode").CombinedOutput()
		if err != nil {
			kvnodeBuild.err = fmt.Errorf("build kvnode: %w\n%s", err, out)
		}
	})
	if kvnodeBuild.err != nil {
		t.Fatal(kvnodeBuild.err)
	}
	return kvnodeBuild.path
}

// hostsForTest makes the namespaces of three nodes. Where they cannot be
// made the test fails with the reason; it is skipped, saying why, only
// outside CI when not root.
func hostsForTest(t *testing.T) *Hosts {
	t.Helper()
	h, err := NewHosts(3)
	if err != nil {
		if os.Getenv("CI") == "" && os.Geteuid() != 0 {
			t.Skipf("needs network namespaces: %v (run as root; CI always runs it)", err)
		}
		t.Fatalf("network namespaces: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("remove the namespaces: %v", err)
		}
	})
	return h
}
