package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/internal/testkit"
)

// launched is a cluster started by scripts/cluster.sh, the launcher of
// make cluster, on free ports in a temporary directory.
type launched struct {
	t    testing.TB
	dir  string
	base int
	n    int
	args string // extra kvnode flags (KVNODE_ARGS)
	tls  string // CLUSTER_TLS: "0" (plain) unless a test sets it
}

// claimPorts claims, for the rest of the test, every port a launch of n
// nodes at base would use (scripts/cluster.sh: gRPC base+i, gossip +100,
// RESP +200, peer +300, metrics +2100), or none.
func claimPorts(t testing.TB, base, n int) bool {
	var ports []int
	for i := 1; i <= n; i++ {
		ports = append(ports, base+i, base+100+i, base+200+i, base+300+i, base+2100+i)
	}
	return testkit.ClaimPorts(t, ports...)
}

func launch(t testing.TB, n int, args ...string) *launched {
	t.Helper()
	return launchWith(t, "0", n, args...)
}

// launchWith is launch with CLUSTER_TLS=tls.
func launchWith(t testing.TB, tls string, n int, args ...string) *launched {
	t.Helper()
	c := &launched{t: t, dir: t.TempDir(), n: n, args: strings.Join(args, " "), tls: tls}
	for {
		// Every port below the kernel's ephemeral range (32768 and up).
		c.base = 20000 + 10*rand.IntN(1000)
		if claimPorts(t, c.base, n) {
			break
		}
	}
	c.script("start")
	t.Cleanup(func() { c.script("stop") })
	return c
}

// scriptCmd is cluster.sh cmd for this cluster.
func (c *launched) scriptCmd(cmd string) *exec.Cmd {
	sh := exec.Command("../../scripts/cluster.sh", cmd)
	sh.Env = append(os.Environ(), "CLUSTER_DIR="+c.dir, "PORT_BASE="+strconv.Itoa(c.base), "NODES="+strconv.Itoa(c.n),
		"BIN="+filepath.Dir(bins.kvnode), "KVNODE_ARGS="+c.args, "CLUSTER_TLS="+c.tls)
	return sh
}

func (c *launched) script(cmd string) string {
	c.t.Helper()
	out, err := c.scriptCmd(cmd).CombinedOutput()
	if err != nil {
		c.t.Fatalf("cluster.sh %s: %v\n%s", cmd, err, out)
	}
	return string(out)
}

// scriptFails runs cluster.sh cmd, which must fail, and returns its output.
func (c *launched) scriptFails(cmd string) string {
	c.t.Helper()
	out, err := c.scriptCmd(cmd).CombinedOutput()
	if err == nil {
		c.t.Fatalf("cluster.sh %s succeeded, want a failure:\n%s", cmd, out)
	}
	return string(out)
}

func (c *launched) endpoint(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.base+i) }

// ctl runs kvctl against node i.
func (c *launched) ctl(i int, args ...string) result {
	c.t.Helper()
	return kvctl(c.t, c.endpoint(i), nil, args...)
}

func (c *launched) must(i int, args ...string) string {
	c.t.Helper()
	r := c.ctl(i, args...)
	if r.code != 0 {
		c.t.Fatalf("kvctl %v on n%d: %v", args, i, r)
	}
	return r.stdout
}

func (c *launched) pid(i int) int {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("n%d.pid", i)))
	if err != nil {
		c.t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (c *launched) kill9(i int) {
	c.t.Helper()
	pid := c.pid(i)
	syscall.Kill(pid, syscall.SIGKILL)
	for syscall.Kill(pid, 0) == nil {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		time.Sleep(10 * time.Millisecond) // polling for the process to be gone
	}
}

type member struct {
	ID        string  `json:"id"`
	State     string  `json:"state"`
	RingState string  `json:"ring_state"`
	Ownership float64 `json:"ownership"`
	Replaces  string  `json:"replaces"`
}

func (c *launched) members(i int) map[string]member {
	c.t.Helper()
	var out struct{ Members []member }
	if err := json.Unmarshal([]byte(c.must(i, "-o", "json", "members")), &out); err != nil {
		c.t.Fatal(err)
	}
	m := map[string]member{}
	for _, x := range out.Members {
		m[x.ID] = x
	}
	return m
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition
	}
	t.Fatalf("%s: not within %v", what, d)
	return 0
}

func (c *launched) digests() []string {
	var ds []string
	for i := 1; i <= c.n; i++ {
		r := c.ctl(i, "-o", "json", "status")
		if r.code != 0 {
			return nil
		}
		var st struct{ Digest string }
		json.Unmarshal([]byte(r.stdout), &st)
		ds = append(ds, st.Digest)
	}
	return ds
}

func TestCluster_membersThroughKillAndRestart(t *testing.T) {
	c := launch(t, 3)
	for i := 1; i <= 3; i++ {
		ms := c.members(i)
		if len(ms) != 3 {
			t.Fatalf("n%d sees %d members: %v", i, len(ms), ms)
		}
		for id, m := range ms {
			if m.State != "alive" || m.RingState != "normal" || m.Ownership < 0.2 || m.Ownership > 0.5 {
				t.Fatalf("n%d sees %s as %+v", i, id, m)
			}
		}
	}
	c.kill9(3)
	took := eventually(t, 20*time.Second, "n3 dead on n1", func() bool { return c.members(1)["n3"].State == "dead" })
	t.Logf("n3 seen dead %v after kill -9", took)
	if m := c.members(1)["n3"]; m.RingState != "normal" || m.Ownership == 0 {
		t.Fatalf("dead n3 left the ring: %+v", m)
	}
	c.script("start") // restarts the missing node
	eventually(t, 20*time.Second, "n3 alive again", func() bool { return c.members(1)["n3"].State == "alive" })
}

func TestCluster_quorumThroughKillAndHintsAfterRestart(t *testing.T) {
	c := launch(t, 3)
	c.must(1, "put", "before", "x", "-c", "all")
	c.kill9(3)
	for i := 0; i < 50; i++ {
		c.must(1+i%2, "put", fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), "-c", "quorum")
	}
	c.must(2, "sadd", "set", "a", "b", "-c", "quorum")
	if got := c.must(2, "get", "k7", "-c", "quorum"); got != "v7\n" {
		t.Fatalf("QUORUM read with n3 down: %q", got)
	}
	r := c.ctl(1, "put", "all", "x", "-c", "all")
	checkResult(t, r, 3, []string{"ALL write", "of 3 required acknowledgements", "n3"}, []string{"put -c all"})
	j := jsonOf(t, c.must(1, "-o", "json", "status"))
	if j["hints_pending"].(float64) == 0 {
		t.Fatalf("no hints pending for n3: %v", j)
	}
	c.script("start")
	took := eventually(t, 30*time.Second, "equal digests without reads", func() bool {
		ds := c.digests()
		return len(ds) == 3 && ds[0] == ds[1] && ds[1] == ds[2]
	})
	t.Logf("hints brought n3 to the others' digest %v after its restart", took)
	// n3 alone now holds every write: read it at ONE from n3 while the
	// others cannot answer for it... every key's replicas are all three.
	if got := c.must(3, "get", "k42", "-c", "one"); got != "v42\n" {
		t.Fatalf("n3 after hints: %q", got)
	}
}

// TestCluster_joinerWithOtherSettingsRefused: a node joining with a
// replication factor, conflict policy or limit other than its cluster's
// exits 2 naming the setting.
func TestCluster_joinerWithOtherSettingsRefused(t *testing.T) {
	seed := startNode(t, nodeOpts{})
	gossip := seed.args[indexOf(seed.args, "--gossip-addr")+1]
	for flag, value := range map[string]string{"--replication-factor": "5", "--conflict": "siblings",
		"--max-key-bytes": "100", "--max-value-bytes": "1000", "--max-object-bytes": "4194304"} {
		p := spawn(t, nodeOpts{args: []string{"--node-id", "n2", "--join", gossip, flag, value}})
		if code := p.exitCode(20 * time.Second); code != 2 || !strings.Contains(p.stderr.String(), flag) {
			t.Fatalf("joiner with %s %s: exit %d:\n%s", flag, value, code, p.stderr)
		}
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
