package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKvnode_testKnobsFlagsOnly: a KVNODE_TEST_* variable does not set its
// knob (anti-entropy stays on, so repair runs) and is reported as ignored;
// a knob given as a flag is warned about at start.
func TestKvnode_testKnobsFlagsOnly(t *testing.T) {
	t.Setenv("KVNODE_TEST_NO_ANTI_ENTROPY", "true")
	n := startNode(t, nodeOpts{args: []string{"--test-no-hints"}})
	if r := kvctl(t, n.grpc, nil, "repair", "--wait"); r.code != 0 {
		t.Fatalf("repair on a node whose environment sets KVNODE_TEST_NO_ANTI_ENTROPY: %v", r)
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := n.exitCode(20 * time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d:\n%s", code, n.stderr)
	}
	logs := n.stderr.String() // the process has exited: nothing writes it now
	for _, want := range []string{
		`level=WARN msg="test knob set: this node breaks guarantees on purpose" flag=--test-no-hints`,
		`level=WARN msg="environment variable ignored: test knobs are taken from flags only" var=KVNODE_TEST_NO_ANTI_ENTROPY`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("kvnode's log lacks %q:\n%s", want, logs)
		}
	}
}
