package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/client/clienttest"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

func TestKvctl_writesPrintOK(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	ep := srv.Addr()
	tests := map[string][]string{
		"put":          {"put", "k", "v"},
		"put stdin":    {"put", "k2", "-"},
		"delete":       {"delete", "k"},
		"delete gone":  {"delete", "never-written"},
		"sadd":         {"sadd", "s", "a", "b"},
		"srem":         {"srem", "s", "a"},
		"srem missing": {"srem", "s", "zzz"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			res := invocation{args: append([]string{"--endpoints", ep}, args...), stdin: "from stdin"}.run(t)
			if res.code != 0 || res.stdout != "OK\n" || res.stderr != "" {
				t.Errorf("text: exit %d, stdout %q, stderr %q; want 0, \"OK\\n\", nothing", res.code, res.stdout, res.stderr)
			}
			res = invocation{args: append([]string{"--endpoints", ep, "-o", "json"}, args...), stdin: "from stdin"}.run(t)
			if res.code != 0 || strings.Contains(res.stdout, "OK") {
				t.Errorf("json: exit %d, stdout %q; want 0 and no OK line", res.code, res.stdout)
			}
			decode(t, res.stdout) // exactly one object
		})
	}
}

func TestKvctl_getRaw(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	ep := srv.Addr()
	value := "two lines\nwith a trailing newline\n\x00\xff"
	invocation{args: []string{"--endpoints", ep, "put", "k", "-"}, stdin: value}.run(t)

	if res := kvctl(t, ep, "get", "k", "--raw"); res.code != 0 || res.stdout != value {
		t.Errorf("get --raw: exit %d, stdout %q; want 0, %q", res.code, res.stdout, value)
	}
	if res := kvctl(t, ep, "get", "k"); res.code != 0 || res.stdout != value+"\n" {
		t.Errorf("get: exit %d, stdout %q; want 0, %q", res.code, res.stdout, value+"\n")
	}
	kvctl(t, ep, "put", "empty", "")
	if res := kvctl(t, ep, "get", "empty", "--raw"); res.code != 0 || res.stdout != "" {
		t.Errorf("get --raw of an empty value: exit %d, stdout %q; want 0 and nothing", res.code, res.stdout)
	}
	if res := kvctl(t, ep, "get", "missing", "--raw"); res.code != 1 || res.stdout != "" {
		t.Errorf("get --raw of a missing key: exit %d, stdout %q; want 1 and nothing", res.code, res.stdout)
	}
}

func TestKvctl_getSiblings(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.Siblings = true
	ep := srv.Addr()
	tests := map[string]struct{ key, quoted string }{
		"plain key":      {"k", "k"},
		"key with space": {"my key", "'my key'"},
		"key with quote": {"it's", `'it'\''s'`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			kvctl(t, ep, "put", tt.key, "a")
			kvctl(t, ep, "put", tt.key, "b")
			token := decode(t, kvctl(t, ep, "-o", "json", "get", tt.key).stdout)["context"].(string)

			res := kvctl(t, ep, "get", tt.key)
			if res.code != 0 || res.stdout != "a\nb\n" {
				t.Errorf("get: exit %d, stdout %q; want 0, one sibling per line", res.code, res.stdout)
			}
			want := "2 siblings; resolve with: kvctl put " + tt.quoted + " VALUE --context " + token + "\n"
			if res.stderr != want {
				t.Errorf("stderr = %q, want %q", res.stderr, want)
			}

			// --raw has no single exact value to print.
			res = kvctl(t, ep, "get", tt.key, "--raw")
			if res.code != 5 || res.stdout != "" || !strings.Contains(res.stderr, "2 siblings") {
				t.Errorf("get --raw: exit %d, stdout %q, stderr %q; want 5, nothing, the count", res.code, res.stdout, res.stderr)
			}

			// The header's command resolves them.
			kvctl(t, ep, "put", tt.key, "c", "--context", token)
			if res := kvctl(t, ep, "get", tt.key); res.stdout != "c\n" || res.stderr != "" {
				t.Errorf("after resolving: stdout %q, stderr %q", res.stdout, res.stderr)
			}
		})
	}
}

func TestKvctl_getContextOnly(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.Siblings = true
	ep := srv.Addr()
	kvctl(t, ep, "put", "k", "a")
	kvctl(t, ep, "put", "k", "b")
	want := decode(t, kvctl(t, ep, "-o", "json", "get", "k").stdout)["context"].(string) + "\n"

	res := kvctl(t, ep, "get", "k", "--context-only")
	if res.code != 0 || res.stdout != want || res.stderr != "" {
		t.Errorf("get --context-only: exit %d, stdout %q, stderr %q; want 0, %q, no header", res.code, res.stdout, res.stderr, want)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+\n$`).MatchString(res.stdout) {
		t.Errorf("token %q is not one base64url line", res.stdout)
	}

	// A missing key still has a token (a put with it is not blind), and
	// still exits 1.
	res = kvctl(t, ep, "get", "missing", "--context-only")
	wantMissing := decode(t, kvctl(t, ep, "-o", "json", "get", "missing").stdout)["context"].(string) + "\n"
	if res.code != 1 || res.stdout != wantMissing {
		t.Errorf("get --context-only of a missing key: exit %d, stdout %q; want 1, %q", res.code, res.stdout, wantMissing)
	}
}

func TestKvctl_getOutputFlagsConflict(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	tests := map[string][]string{
		"raw and json":          {"-o", "json", "get", "k", "--raw"},
		"context-only and json": {"-o", "json", "get", "k", "--context-only"},
		"raw and context-only":  {"get", "k", "--raw", "--context-only"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			res := kvctl(t, srv.Addr(), args...)
			if res.code != 2 || res.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", res.code, res.stdout)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

func TestKvctl_repairWaitSummary(t *testing.T) {
	tests := map[string]struct {
		peers []string
		args  []string
		want  string
	}{
		"wait":            {[]string{"n2", "n3"}, []string{"repair", "--wait"}, "repair: done with 2 peers (n2, n3)\n"},
		"wait, one peer":  {[]string{"n2"}, []string{"repair", "--wait"}, "repair: done with 1 peer (n2)\n"},
		"wait, no peers":  {nil, []string{"repair", "--wait"}, "repair: done with 0 peers\n"},
		"no wait":         {[]string{"n2"}, []string{"repair"}, ""},
		"wait, json mode": {[]string{"n2"}, []string{"-o", "json", "repair", "--wait"}, "{\n  \"peers\": [\n    \"n2\"\n  ],\n  \"failed\": []\n}\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			srv := clienttest.Start(t, "n1")
			srv.SetRepair(&quorumkvv1.RepairResponse{Peers: tt.peers})
			if res := kvctl(t, srv.Addr(), tt.args...); res.code != 0 || res.stdout != tt.want {
				t.Errorf("exit %d, stdout %q; want 0, %q", res.code, res.stdout, tt.want)
			}
		})
	}
}

func TestKvctl_completion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			// A malformed $KVCTL_ENDPOINTS does not break completion.
			res := invocation{args: []string{"completion", shell}, env: map[string]string{endpointsEnv: "not an endpoint"}}.run(t)
			if res.code != 0 || !strings.Contains(res.stdout, "kvctl") {
				t.Errorf("exit %d, stdout %d bytes; want 0 and a script", res.code, len(res.stdout))
			}
		})
	}
	// The request the scripts send lists the commands (cobra logs its
	// directive on stderr, which the scripts discard).
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"__complete", "sm"}, env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	if code != 0 || !strings.HasPrefix(stdout.String(), "smembers\t") {
		t.Errorf("__complete sm: exit %d, stdout %q", code, stdout.String())
	}
}

func TestKvctl_version(t *testing.T) {
	res := invocation{args: []string{"--version"}}.run(t)
	if res.code != 0 || !regexp.MustCompile(`^kvctl \S+ commit \S+ (go\S+|unknown)\n$`).MatchString(res.stdout) {
		t.Errorf("--version: exit %d, stdout %q; want one line: kvctl VERSION commit COMMIT GOVERSION", res.code, res.stdout)
	}
}

func TestShellQuote(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain":      {"user:42/name", "user:42/name"},
		"empty":      {"", "''"},
		"space":      {"a b", "'a b'"},
		"quote":      {"it's", `'it'\''s'`},
		"dollar":     {"$HOME", "'$HOME'"},
		"newline":    {"a\nb", "'a\nb'"},
		"non-ascii":  {"caf\u00e9", "'caf\u00e9'"},
		"glob":       {"*", "'*'"},
		"equals etc": {"a=b,c+d@e%f", "a=b,c+d@e%f"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := shellQuote(tt.in); got != tt.want {
				t.Errorf("shellQuote(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
