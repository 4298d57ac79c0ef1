package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// siblingsHeader is the one stderr line a successful get may print: the
// header of siblings.
var siblingsHeader = regexp.MustCompile(`^[0-9]+ siblings; resolve with: kvctl put .+ VALUE --context [A-Za-z0-9_-]*\n$`)

// backupProgress is what a successful backup may print on stderr.
var backupProgress = regexp.MustCompile(`^(backup: [0-9]+ bytes received( from \S+)?\n)+$`)

// leaveProgress is what a successful leave --wait may print on stderr.
var leaveProgress = regexp.MustCompile(`^(\S+ leaving: .+\n|\r\S+ leaving: .+\x1b\[K)*\r?\S+ left after \S+(\x1b\[K)?\n$`)

// result is what one in-process kvctl run produced.
type result struct {
	code           int
	stdout, stderr string
}

// invocation is one in-process kvctl run.
type invocation struct {
	args  []string
	stdin string
	env   map[string]string
}

func (in invocation) run(t *testing.T) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := env{
		stdin:  strings.NewReader(in.stdin),
		stdout: &stdout,
		stderr: &stderr,
		getenv: func(k string) string { return in.env[k] },
	}
	code := run(context.Background(), in.args, e)
	res := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("kvctl %q -> %d\nstdout: %s\nstderr: %s", in.args, res.code, res.stdout, res.stderr)
	if code == 0 && res.stderr != "" && !siblingsHeader.MatchString(res.stderr) && !backupProgress.MatchString(res.stderr) && !leaveProgress.MatchString(res.stderr) {
		t.Errorf("exit 0 with stderr %q", res.stderr)
	}
	if code != 0 {
		if !strings.HasPrefix(res.stderr, "error: ") || strings.Count(res.stderr, "\n") != 1 || !strings.HasSuffix(res.stderr, "\n") {
			t.Errorf("stderr %q is not one line starting with \"error: \"", res.stderr)
		}
	}
	return res
}

// kvctl runs kvctl against endpoint with args.
func kvctl(t *testing.T, endpoint string, args ...string) result {
	t.Helper()
	return invocation{args: append([]string{"--endpoints", endpoint}, args...)}.run(t)
}
