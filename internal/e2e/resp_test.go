package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// redisTool returns the path of a redis-tools binary; the test is skipped
// without it, except in CI (.ci/run installs redis-tools).
func redisTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found: .ci/run installs redis-tools", name)
		}
		t.Skipf("%s not found (apt-get install redis-tools)", name)
	}
	return p
}

func (c *launched) respPort(i int) string { return fmt.Sprint(c.base + 200 + i) }

// redisCLI runs redis-cli against node i's RESP listener with args, stdin
// given as its input (commands one per line when args has none).
func (c *launched) redisCLI(t *testing.T, i int, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(redisTool(t, "redis-cli"), append([]string{"-p", c.respPort(i)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// redis-cli, non-interactive, against a cluster started as make cluster
// starts it: SET, GET, SADD, SMEMBERS, INFO, QKV.CONSISTENCY all, and the
// -QUORUM error once a node is down.
func TestRESP_redisCLI(t *testing.T) {
	redisTool(t, "redis-cli")
	c := launch(t, 3)
	for _, tc := range []struct {
		node int
		args []string
		want string
	}{
		{1, []string{"SET", "greeting", "hello"}, "OK\n"},
		{2, []string{"GET", "greeting"}, "hello\n"},
		{3, []string{"SADD", "colors", "red", "green"}, "2\n"},
		{1, []string{"SMEMBERS", "colors"}, "green\nred\n"},
		{2, []string{"TYPE", "colors"}, "set\n"},
		{3, []string{"DEL", "greeting", "nothing"}, "1\n"},
		{1, []string{"GET", "greeting"}, "\n"},
		{1, []string{"XYZ"}, "ERR unknown command 'XYZ', with args beginning with: \n\n"}, // redis-cli adds a blank line after an error
	} {
		if got := c.redisCLI(t, tc.node, "", tc.args...); got != tc.want {
			t.Errorf("redis-cli -p n%d %v: %q, want %q", tc.node, tc.args, got, tc.want)
		}
	}
	info := c.redisCLI(t, 1, "", "INFO")
	for _, want := range []string{"# Server", "redis_version:", "# Clients", "# Keyspace", "# Cluster", "quorumkv_members:3", "member2:id=n3"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	// One connection: the level holds for the commands after it.
	if got := c.redisCLI(t, 2, "QKV.CONSISTENCY all\nSET k v\nGET k\n"); got != "OK\nOK\nv\n" {
		t.Fatalf("QKV.CONSISTENCY all, SET, GET: %q", got)
	}
	c.kill9(3)
	got := c.redisCLI(t, 1, "QKV.CONSISTENCY all\nSET k w\nQKV.CONSISTENCY quorum\nSET k x\nGET k\n")
	lines := strings.Split(strings.ReplaceAll(got, "\n\n", "\n"), "\n")
	if len(lines) < 5 || lines[0] != "OK" || !strings.HasPrefix(lines[1], "QUORUM ALL write: ") || !strings.Contains(lines[1], "required acknowledgements (n3 ") ||
		lines[2] != "OK" || lines[3] != "OK" || lines[4] != "x" {
		t.Fatalf("with n3 down: %q", got)
	}
}

// redis-cli with the cluster's certificates when TLS is on (make cluster's
// default): it needs --tls and a client certificate of the cluster's CA.
func TestRESP_redisCLIWithTLS(t *testing.T) {
	redisTool(t, "redis-cli")
	c := launchWith(t, "1", 1)
	certs := filepath.Join(c.dir, "certs")
	tlsArgs := []string{"--tls", "--cacert", filepath.Join(certs, "ca.crt"), "--cert", filepath.Join(certs, "client-admin.crt"),
		"--key", filepath.Join(certs, "client-admin.key")}
	if got := c.redisCLI(t, 1, "", append(tlsArgs, "SET", "k", "v")...); got != "OK\n" {
		t.Fatalf("SET over TLS: %q", got)
	}
	if got := c.redisCLI(t, 1, "", append(tlsArgs, "GET", "k")...); got != "v\n" {
		t.Fatalf("GET over TLS: %q", got)
	}
	// Without TLS the listener does not answer in the clear.
	cmd := exec.Command(redisTool(t, "redis-cli"), "-p", c.respPort(1), "GET", "k")
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "v\n") && !strings.Contains(string(out), "rror") {
		t.Fatalf("a plain redis-cli read the key over a TLS listener: %q", out)
	}
}

// redis-benchmark against a three-node cluster: SET, GET and SADD with 50
// clients pipelining 16 commands each, without a single error.
func TestRESP_redisBenchmark(t *testing.T) {
	bench := redisTool(t, "redis-benchmark")
	c := launch(t, 3)
	cmd := exec.Command(bench, "-t", "set,get,sadd", "-n", "20000", "-c", "50", "-P", "16", "-p", c.respPort(1), "-q")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	// -q redraws a progress line with \r; the result is what follows the last.
	var results []string
	for _, l := range strings.Split(string(out), "\n") {
		results = append(results, l[strings.LastIndexByte(l, '\r')+1:])
	}
	t.Logf("redis-benchmark in %v:\n%s", time.Since(start), strings.Join(results, "\n"))
	if err != nil {
		t.Fatalf("redis-benchmark: %v", err)
	}
	text := string(out)
	for _, cmd := range []string{"SET: ", "GET: ", "SADD: "} {
		if !strings.Contains(text, cmd) {
			t.Errorf("no %s line", cmd)
		}
	}
	if strings.Contains(strings.ToLower(text), "error") {
		t.Fatalf("redis-benchmark reported errors:\n%s", text)
	}
}
