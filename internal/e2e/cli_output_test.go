package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runBinary runs one of the built binaries with args and returns what it
// printed and its exit code.
func runBinary(t *testing.T, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", path, args, err)
	}
	return r
}

func TestBinaries_version(t *testing.T) {
	for name, path := range map[string]string{"kvnode": bins.kvnode, "kvctl": bins.kvctl} {
		t.Run(name, func(t *testing.T) {
			r := runBinary(t, path, "--version")
			line := regexp.MustCompile(`^` + name + ` \S+ commit \S+ go[0-9][^ \n]*\n$`)
			if r.code != 0 || r.stderr != "" || !line.MatchString(r.stdout) {
				t.Fatalf("--version: %v; want exit 0 and one line %q", r, line)
			}
		})
	}
}

func TestKvnode_helpOnceOnStdout(t *testing.T) {
	r := runBinary(t, bins.kvnode, "--help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("kvnode --help: %v; want exit 0 and nothing on stderr", r)
	}
	if n := strings.Count(r.stdout, "kvnode runs one quorumkv node."); n != 1 {
		t.Fatalf("kvnode --help printed its help %d times on stdout, want once: %q", n, r.stdout)
	}
	for _, flag := range []string{"--node-id", "--data-dir", "--version"} {
		if !strings.Contains(r.stdout, "  "+flag) {
			t.Errorf("kvnode --help lacks %s", flag)
		}
	}
	// A bad flag is one error line, without the help.
	r = runBinary(t, bins.kvnode, "--no-such-flag")
	if r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "error: ") {
		t.Fatalf("kvnode --no-such-flag: %v; want exit 2 and one error line", r)
	}
}

func TestKvctl_textOutput(t *testing.T) {
	n := startNode(t, nodeOpts{})
	for _, args := range [][]string{
		{"put", "k", "v"},
		{"delete", "k"},
		{"delete", "never-written"},
		{"sadd", "s", "a", "b"},
		{"srem", "s", "a"},
	} {
		if got := n.must(args...); got != "OK\n" {
			t.Errorf("kvctl %v printed %q, want OK", args, got)
		}
	}
	// -o json keeps its object, with no OK line.
	if j := jsonOf(t, n.must("-o", "json", "put", "k", "v")); j["key"] != "k" {
		t.Errorf("put -o json: %v", j)
	}

	// get --raw is byte-exact: no newline added, none taken away.
	val := []byte("line one\nline two\n\x00\xff\r\n")
	if r := kvctl(t, n.grpc, val, "put", "bin", "-"); r.code != 0 || r.stdout != "OK\n" {
		t.Fatalf("put from stdin: %v", r)
	}
	if got := n.must("get", "bin", "--raw"); got != string(val) {
		t.Errorf("get --raw = %q, want %q", got, val)
	}
	if got := n.must("get", "bin"); got != string(val)+"\n" {
		t.Errorf("get = %q, want the value and a newline", got)
	}
	n.must("put", "empty", "")
	if got := n.must("get", "empty", "--raw"); got != "" {
		t.Errorf("get --raw of an empty value = %q", got)
	}
	if r := n.expect(1, nil, "get", "missing", "--raw"); r.stdout != "" {
		t.Errorf("get --raw of a missing key printed %q", r.stdout)
	}

	// --context-only prints the token, which put --context takes.
	tok := n.must("get", "bin", "--context-only")
	if want := jsonOf(t, n.must("-o", "json", "get", "bin"))["context"].(string) + "\n"; tok != want {
		t.Errorf("get --context-only = %q, want %q", tok, want)
	}
	n.must("put", "bin", "replaced", "--context", strings.TrimSuffix(tok, "\n"))
	if got := n.must("get", "bin"); got != "replaced\n" {
		t.Errorf("after put --context: %q", got)
	}

	if got := n.must("smembers", "s"); got != "b\n" {
		t.Errorf("smembers = %q", got)
	}
	if got := n.must("smembers", "no-such-set"); got != "" {
		t.Errorf("smembers of a missing key printed %q", got)
	}
}

func TestKvctl_siblingsHeader(t *testing.T) {
	n := startNode(t, nodeOpts{args: []string{"--conflict", "siblings"}})
	n.must("put", "my key", "a")
	n.must("put", "my key", "b")
	token := jsonOf(t, n.must("-o", "json", "get", "my key"))["context"].(string)

	r := kvctl(t, n.grpc, nil, "get", "my key")
	if r.code != 0 || r.stdout != "a\nb\n" {
		t.Fatalf("get of siblings: %v; want exit 0 and one value per line", r)
	}
	if want := fmt.Sprintf("2 siblings; resolve with: kvctl put 'my key' VALUE --context %s\n", token); r.stderr != want {
		t.Fatalf("siblings header = %q, want %q", r.stderr, want)
	}
	// The header's command resolves them.
	n.must("put", "my key", "c", "--context", token)
	if r := kvctl(t, n.grpc, nil, "get", "my key"); r.code != 0 || r.stdout != "c\n" || r.stderr != "" {
		t.Fatalf("after resolving: %v", r)
	}
}

func TestClusterScript_statusAndRestart(t *testing.T) {
	c := launch(t, 1)
	pid := c.pid(1)
	out := c.script("status")
	if want := fmt.Sprintf("n1  pid %d  grpc %s  alive\n", pid, c.endpoint(1)); !strings.HasPrefix(out, want) {
		t.Errorf("status = %q, want it to start with %q", out, want)
	}
	if !regexp.MustCompile(`(?m)^ID +GRPC_ADDR +GOSSIP_ADDR +STATE +RING_STATE +OWNERSHIP\nn1 +` + regexp.QuoteMeta(c.endpoint(1)) + ` .* alive +normal +100\.0%$`).MatchString(out) {
		t.Errorf("status lacks kvctl members' table:\n%s", out)
	}
	// A second start names the running node.
	out = c.script("start")
	if want := fmt.Sprintf("  n1  pid %d  grpc %s  resp 127.0.0.1:%d  found running", pid, c.endpoint(1), c.base+201); !strings.Contains(out, want) {
		t.Errorf("second start = %q, want a line %q", out, want)
	}
	if want := fmt.Sprintf("  redis-cli -p %d   (then:", c.base+201); !strings.Contains(out, want) {
		t.Errorf("second start = %q, want a line %q", out, want)
	}
	// An idle node stops at once.
	start := time.Now()
	if out := c.script("stop"); out != "stopped 1 node(s) in "+c.dir+"\n" {
		t.Errorf("stop = %q", out)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping an idle node took %v", took)
	}
	// Stopped: status says so and exits 1.
	sh := exec.Command("../../scripts/cluster.sh", "status")
	sh.Env = append(sh.Environ(), "CLUSTER_DIR="+c.dir, "NODES=1", fmt.Sprintf("PORT_BASE=%d", c.base), "CLUSTER_TLS=0")
	b, err := sh.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), "n1  pid -  grpc "+c.endpoint(1)+"  not running") {
		t.Errorf("status of a stopped cluster: %v\n%s", err, b)
	}
}
