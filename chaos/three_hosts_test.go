package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/internal/testkit"
)

// walkthroughMarker precedes the shell block of docs/operations.md that
// TestThreeHosts_walkthrough runs.
const walkthroughMarker = "<!-- walkthrough: three machines -->"

// walkStep is one command of the walk-through: where it runs (0: the
// admin machine, the harness's namespace; i: machine i's namespace) and
// its words, variables not yet expanded.
type walkStep struct {
	machine int
	line    string
}

var machineRE = regexp.MustCompile(`^# on machine ([0-9]+)`)

// parseWalkthrough returns the commands of the marked shell block of doc,
// joined across continuation lines, each with the machine it runs on.
func parseWalkthrough(doc string) ([]walkStep, error) {
	_, rest, ok := strings.Cut(doc, walkthroughMarker)
	if !ok {
		return nil, fmt.Errorf("no %q marker", walkthroughMarker)
	}
	rest = strings.TrimLeft(rest, "\n")
	if !strings.HasPrefix(rest, "```sh\n") {
		return nil, fmt.Errorf("the marker is not followed by a ```sh block")
	}
	block, _, ok := strings.Cut(strings.TrimPrefix(rest, "```sh\n"), "\n```")
	if !ok {
		return nil, fmt.Errorf("the walk-through block is not closed")
	}
	var steps []walkStep
	machine, pending := 0, ""
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line, pending = pending+" "+line, ""
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSpace(strings.TrimSuffix(line, `\`))
			continue
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			machine = 0
			if m := machineRE.FindStringSubmatch(line); m != nil {
				machine, _ = strconv.Atoi(m[1])
			}
		default:
			steps = append(steps, walkStep{machine: machine, line: line})
		}
	}
	return steps, nil
}

// lockedBuffer is a process's output, written by exec's copying goroutine.
type lockedBuffer = testkit.LogBuffer

// TestThreeHosts_walkthrough runs the "three machines" walk-through of
// docs/operations.md line by line on three network namespaces, one per
// machine, each with its own address: three kvnode processes bound to
// 0.0.0.0 that advertise their own IP, with TLS and a gossip key; a write
// at ALL, a read back on each machine, and the member list showing the
// advertised addresses.
func TestThreeHosts_walkthrough(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseWalkthrough(string(doc))
	if err != nil {
		t.Fatalf("docs/operations.md: %v", err)
	}
	h := hostsForTest(t)
	kvnode := kvnodeForTest(t)
	dir := t.TempDir()
	kvctl := filepath.Join(dir, "kvctl")
	if out, err := exec.Command("go", "build", "-o", kvctl, "../cmd/kvctl").CombinedOutput(); err != nil {
		t.Fatalf("build kvctl: %v\n%s", err, out)
	}
	vars := map[string]string{"IP1": h.IP(0), "IP2": h.IP(1), "IP3": h.IP(2), "CERTS": filepath.Join(dir, "certs")}
	env := []string{"KVCTL_ENDPOINTS=", "KVCTL_CACERT=", "KVCTL_CERT=", "KVCTL_KEY="}
	var nodes []*exec.Cmd
	var logs []*lockedBuffer
	t.Cleanup(func() {
		for _, c := range nodes {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for i, c := range nodes {
			_ = c.Wait()
			if t.Failed() {
				t.Logf("kvnode %d log:\n%s", i+1, logs[i])
			}
		}
	})
	for _, s := range steps {
		machineVars := func(k string) string {
			if k == "DATA" {
				return filepath.Join(dir, fmt.Sprintf("data-machine%d", s.machine))
			}
			return vars[k]
		}
		words := strings.Fields(os.Expand(s.line, machineVars))
		where := "admin"
		if s.machine > 0 {
			where = fmt.Sprintf("machine %d (%s)", s.machine, h.IP(s.machine-1))
		}
		switch words[0] {
		case "export":
			env = append(env, words[1:]...)
		case "kvnode":
			if s.machine < 1 || s.machine > 3 {
				t.Fatalf("%q: kvnode runs on machine 1 to 3", s.line)
			}
			cmd := h.Command(s.machine-1, append([]string{kvnode}, words[1:]...)...)
			buf := &lockedBuffer{}
			cmd.Stdout, cmd.Stderr = buf, buf
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			nodes, logs = append(nodes, cmd), append(logs, buf)
			t.Logf("%s: $ %s", where, strings.Join(words, " "))
		case "kvctl":
			run := func() (string, error) {
				var cmd *exec.Cmd
				if s.machine == 0 {
					cmd = exec.Command(kvctl, words[1:]...)
				} else {
					cmd = h.Command(s.machine-1, append([]string{kvctl}, words[1:]...)...)
				}
				cmd.Env = append(os.Environ(), env...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					return string(out), fmt.Errorf("%w: %s", err, stderr.String())
				}
				return string(out), nil
			}
			var out string
			if strings.Join(words[1:], " ") == "members -o json" {
				// "wait until kvctl members shows three alive, normal rows"
				out = awaitMembers(t, run, vars)
			} else if out, err = run(); err != nil {
				t.Fatalf("%s: %s: %v", where, strings.Join(words, " "), err)
			}
			t.Logf("%s: $ %s\n%s", where, strings.Join(words, " "), strings.TrimRight(out, "\n"))
			if slices.Contains(words, "get") {
				if out != "hello\n" {
					t.Fatalf("%s: get printed %q, want %q", where, out, "hello\n")
				}
			}
		default:
			t.Fatalf("walk-through line %q: only kvctl, kvnode and export are run", s.line)
		}
	}
	if len(nodes) != 3 {
		t.Fatalf("the walk-through started %d nodes, want 3", len(nodes))
	}
}

// awaitMembers runs kvctl members -o json until it lists n1, n2 and n3
// alive and normal at their advertised addresses, and returns that
// output.
func awaitMembers(t *testing.T, run func() (string, error), vars map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		out, err := run()
		if err == nil {
			var got struct {
				Members []struct {
					ID         string `json:"id"`
					GRPCAddr   string `json:"grpc_addr"`
					GossipAddr string `json:"gossip_addr"`
					State      string `json:"state"`
					RingState  string `json:"ring_state"`
				} `json:"members"`
			}
			if err = json.Unmarshal([]byte(out), &got); err == nil {
				ok := len(got.Members) == 3
				for i, m := range got.Members {
					ip := vars[fmt.Sprintf("IP%d", i+1)]
					if m.ID != fmt.Sprintf("n%d", i+1) || m.State != "alive" || m.RingState != "normal" ||
						m.GRPCAddr != ip+":7001" || m.GossipAddr != ip+":7101" {
						ok = false
					}
				}
				if ok {
					return out
				}
				err = fmt.Errorf("not yet three alive, normal members at their advertised addresses")
			}
		}
		last = fmt.Sprintf("%v: %s", err, out)
		select {
		case <-ctx.Done():
			t.Fatalf("kvctl members -o json: %s", last)
		case <-tick.C:
		}
	}
}
