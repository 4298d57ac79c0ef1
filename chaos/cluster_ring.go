package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

// Ring changes: a spare node joins, a member leaves (kvctl leave) or is
// killed and removed (kvctl remove). A node that left or was removed is
// never started again, and no request of the workloads or the final checks
// goes to it.

// Join starts spare node i, joining the cluster through every member's
// gossip address, and waits up to timeout until it reports itself joined:
// from then on it is a member (the workloads send to it while it is still
// being filled). It returns how long that took.
func (c *Cluster) Join(ctx context.Context, i int, timeout time.Duration) (time.Duration, error) {
	c.mu.Lock()
	if c.state[i] != spare {
		c.mu.Unlock()
		return 0, fmt.Errorf("%s is not a spare", ID(i))
	}
	var seeds []string
	for _, j := range c.inState(member) {
		seeds = append(seeds, c.gossipAddr(j))
	}
	c.seeds[i], c.state[i] = seeds, joining
	err := c.startLocked(i)
	p := c.procs[i]
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		st, err := c.clients[i].Status(ctx, client.WithTimeout(time.Second))
		switch {
		case err != nil:
			last = err
		case st.Joined:
			c.mu.Lock()
			if c.state[i] == joining {
				c.state[i] = member
			}
			c.mu.Unlock()
			return time.Since(start), nil
		default:
			last = errors.New("not joined")
		}
		if p.exited() {
			err := p.waitErr
			if err == nil {
				err = errors.New("exit status 0")
			}
			return time.Since(start), fmt.Errorf("%s exited while joining: %w (see %s)", ID(i), err, c.logPath(i))
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("%s not joined within %v: %w", ID(i), timeout, last)
		case <-tick.C:
		}
	}
}

// Leave runs kvctl leave --wait on member i: it must hand its partitions
// over, report itself left and exit 0, all within timeout. Node i stops
// being a member once kvctl has reported it left. It returns kvctl's last
// progress line.
func (c *Cluster) Leave(ctx context.Context, i int, timeout time.Duration) (string, error) {
	start := time.Now()
	out, err := c.kvctl(ctx, timeout, []string{c.GRPCAddr(i)}, "leave", "--wait")
	if err != nil {
		return out, err
	}
	c.mu.Lock()
	c.state[i] = gone
	p := c.procs[i]
	c.mu.Unlock()
	t := time.NewTimer(max(timeout-time.Since(start), stopGrace))
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.kill()
		return out, fmt.Errorf("%s reported itself left but had not exited %v later: killed (see %s)", ID(i), time.Since(start).Round(time.Second), c.logPath(i))
	}
	if p.waitErr != nil {
		return out, fmt.Errorf("%s left but exited with %w, not 0 (see %s)", ID(i), p.waitErr, c.logPath(i))
	}
	return out, nil
}

// Remove kills member i with SIGKILL (it is no longer a member and is
// never started again), waits until the first remaining member's failure
// detector holds it dead, and runs kvctl remove on the remaining members,
// all within timeout. It returns how long the wait for death took.
func (c *Cluster) Remove(ctx context.Context, i int, timeout time.Duration) (time.Duration, error) {
	c.mu.Lock()
	c.state[i], c.paused[i] = gone, false
	p := c.procs[i]
	others := c.inState(member)
	c.mu.Unlock()
	if p != nil {
		p.kill()
	}
	if len(others) == 0 {
		return 0, fmt.Errorf("no member left to remove %s", ID(i))
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ms, err := c.clients[others[0]].Members(ctx, client.WithTimeout(time.Second))
		if err == nil && slices.ContainsFunc(ms, func(m client.Member) bool { return m.ID == ID(i) && m.State == client.Dead }) {
			break
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("%s does not hold the killed %s dead within %v", ID(others[0]), ID(i), timeout)
		case <-tick.C:
		}
	}
	waited := time.Since(start)
	var endpoints []string
	for _, j := range others {
		endpoints = append(endpoints, c.GRPCAddr(j))
	}
	_, err := c.kvctl(ctx, timeout, endpoints, "remove", ID(i))
	return waited, err
}

// kvctl runs the kvctl binary with the run's admin certificate against
// endpoints, for at most timeout, and returns the last line it printed.
// An exit other than 0 is an error that carries what it printed.
func (c *Cluster) kvctl(ctx context.Context, timeout time.Duration, endpoints []string, args ...string) (string, error) {
	if c.cfg.KVCtl == "" {
		return "", errors.New("no kvctl binary to run")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a := []string{"--endpoints", strings.Join(endpoints, ",")}
	if !c.cfg.Plain {
		d := c.certDir()
		a = append(a, "--cacert", filepath.Join(d, "ca.crt"),
			"--cert", filepath.Join(d, security.ClientCertFile("chaos")), "--key", filepath.Join(d, security.ClientKeyFile("chaos")))
	}
	cmd := exec.CommandContext(ctx, c.cfg.KVCtl, append(a, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		return text, fmt.Errorf("kvctl %s: %w: %s", strings.Join(args, " "), err, strings.ReplaceAll(text, "\n", "; "))
	}
	if k := strings.LastIndexByte(text, '\n'); k >= 0 {
		text = text[k+1:]
	}
	return text, nil
}

// logPath is node i's log.
func (c *Cluster) logPath(i int) string { return filepath.Join(c.cfg.LogDir, ID(i)+".log") }
