package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/quorumkv/quorumkv/internal/testkit"
)

// bins holds the paths of the binaries TestMain built.
var bins struct{ kvnode, kvctl string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "quorumkv-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.kvnode = filepath.Join(dir, "kvnode")
	bins.kvctl = filepath.Join(dir, "kvctl")
	for _, b := range []struct{ out, pkg string }{{bins.kvnode, "../../cmd/kvnode"}, {bins.kvctl, "../../cmd/kvctl"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", b.pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// nodeProc is a kvnode process started by a test.
type nodeProc struct {
	t         *testing.T
	cmd       *exec.Cmd
	args      []string
	grpc      string
	metrics   string
	stderr    *logBuffer
	done      chan struct{}
	waitErr   error
	dataDir   string
	extraArgs []string
}

// logBuffer is a process's stderr: written by exec's copying goroutine,
// read by the test while the process runs.
type logBuffer = testkit.LogBuffer

// nodeOpts configures startNode.
type nodeOpts struct {
	dataDir string
	args    []string // extra flags
	wrap    []string // command to run kvnode under (unshare ...)
}

// spawn starts kvnode without waiting for it to be ready.
func spawn(t *testing.T, o nodeOpts) *nodeProc {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(t.TempDir(), "data")
	}
	p := &nodeProc{t: t, grpc: testkit.FreeAddr(t), metrics: testkit.FreeAddr(t), stderr: &logBuffer{}, done: make(chan struct{}), dataDir: o.dataDir, extraArgs: o.args}
	p.args = append([]string{
		"--node-id", "n1", "--data-dir", o.dataDir, "--cluster-name", "e2e",
		"--grpc-addr", p.grpc, "--gossip-addr", testkit.FreeAddr(t), "--metrics-addr", p.metrics,
	}, o.args...)
	argv := append(append([]string{}, o.wrap...), bins.kvnode)
	argv = append(argv, p.args...)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// startNode starts kvnode and waits until /readyz answers.
func startNode(t *testing.T, o nodeOpts) *nodeProc {
	t.Helper()
	p := spawn(t, o)
	p.waitReady()
	return p
}

func (p *nodeProc) waitReady() { p.t.Helper(); p.waitReadyz(http.StatusOK, "ok") }

// startUnjoined starts kvnode with --join to seeds that never answer and
// waits until it serves, not ready because it has not joined.
func startUnjoined(t *testing.T, o nodeOpts) *nodeProc {
	t.Helper()
	o.args = append(o.args, "--join", testkit.FreeAddr(t))
	p := spawn(t, o)
	p.waitReadyz(http.StatusServiceUnavailable, "not joined")
	return p
}

// waitReadyz waits until /readyz answers code with a body containing want.
func (p *nodeProc) waitReadyz(code int, want string) {
	p.t.Helper()
	client := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(20 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("kvnode exited before /readyz said %d %q: %v\n%s", code, want, p.waitErr, p.stderr)
		default:
		}
		resp, err := client.Get("http://" + p.metrics + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == code && strings.Contains(string(b), want) {
				return
			}
			last = fmt.Sprintf("%d %q", resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not a fixed wait
	}
	p.t.Fatalf("kvnode /readyz not %d %q within 20s (last: %s):\n%s", code, want, last, p.stderr)
}

// exitCode waits for the process to exit on its own within d and returns
// its exit code.
func (p *nodeProc) exitCode(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("kvnode still running after %v:\n%s", d, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return ee.ExitCode()
	}
	if p.waitErr != nil {
		p.t.Fatalf("wait: %v", p.waitErr)
	}
	return 0
}

// kill9 kills the node with SIGKILL and waits for it.
func (p *nodeProc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// restart starts a new process on the same data dir and addresses.
func (p *nodeProc) restart() *nodeProc {
	p.t.Helper()
	q := &nodeProc{t: p.t, grpc: p.grpc, metrics: p.metrics, args: p.args, stderr: &logBuffer{}, done: make(chan struct{}), dataDir: p.dataDir}
	q.cmd = exec.Command(bins.kvnode, p.args...)
	q.cmd.Stderr = q.stderr
	q.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := q.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() {
		q.waitErr = q.cmd.Wait()
		close(q.done)
	}()
	p.t.Cleanup(func() {
		q.cmd.Process.Kill()
		<-q.done
	})
	q.waitReady()
	return q
}

// result is what one kvctl run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// kvctl runs kvctl against endpoint with args; stdin may be nil.
func kvctl(t testing.TB, endpoint string, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.kvctl, append([]string{"--endpoints", endpoint}, args...)...)
	cmd.Env = append(os.Environ(), "KVCTL_ENDPOINTS=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("kvctl %v: %v", args, err)
	}
	return r
}

// must runs kvctl and fails the test unless it exits 0.
func (p *nodeProc) must(args ...string) string {
	p.t.Helper()
	r := kvctl(p.t, p.grpc, nil, args...)
	if r.code != 0 {
		p.t.Fatalf("kvctl %v: %v", args, r)
	}
	return r.stdout
}

// expect runs kvctl and checks the exit code and that stderr is one line
// starting with "error: " containing every want.
func (p *nodeProc) expect(code int, want []string, args ...string) result {
	p.t.Helper()
	r := kvctl(p.t, p.grpc, nil, args...)
	checkResult(p.t, r, code, want, args)
	return r
}

func checkResult(t *testing.T, r result, code int, want []string, args []string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("kvctl %q: want exit %d, got %v", args, code, r)
	}
	if code == 0 || code == 1 {
		return
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "error: ") {
		t.Fatalf("kvctl %q: want one stderr line starting with 'error: ', got %q", args, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Fatalf("kvctl %q: stderr %q does not contain %q", args, line, w)
		}
	}
}

// jsonOf decodes kvctl's -o json output.
func jsonOf(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not one JSON object: %v: %q", err, s)
	}
	return m
}
