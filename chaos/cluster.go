package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

// shutdownTimeout is every node's --shutdown-timeout: restarts stay short.
// A node still running stopGrace after SIGTERM is killed, and the harness
// says so.
const (
	shutdownTimeout = 2 * time.Second
	stopGrace       = shutdownTimeout + 5*time.Second
)

// Ports every node listens on, each on its own address.
const (
	grpcPort    = 7001
	gossipPort  = 7101
	peerPort    = 7301
	metricsPort = 9101
)

// ClusterConfig says how to run the nodes of a run.
type ClusterConfig struct {
	// Hosts are the namespaces the nodes run in; required.
	Hosts *Hosts
	// Nodes is the initial node count; zero means 3.
	Nodes int
	// Spares is how many more nodes Join may start, one per host after
	// the initial nodes' (Nodes + Spares is at most the hosts').
	Spares int
	// KVNode is the kvnode binary; required.
	KVNode string
	// KVCtl is the kvctl binary; required by Leave and Remove.
	KVCtl string
	// DataDir holds one data directory per node; required.
	DataDir string
	// LogDir receives one log per node (nX.log); required.
	LogDir string
	// Conflict is the cluster's policy, lww or siblings; empty means lww.
	Conflict string
	// AntiEntropyInterval is every node's --anti-entropy-interval; zero
	// leaves kvnode's default.
	AntiEntropyInterval time.Duration
	// MaxClockOffset is every node's --max-clock-offset; zero means 500ms.
	MaxClockOffset time.Duration
	// Args are extra kvnode flags for every node (test knobs).
	Args []string
	// OpTimeout bounds each client request; zero means 1.5s.
	OpTimeout time.Duration
	// Plain runs the nodes without TLS and gossip encryption
	// (--insecure). By default every run is secured as production is: a
	// CA, a certificate per node for its address, an admin certificate for
	// the clients and a gossip key, all made for the run under DataDir.
	Plain bool
}

// Cluster is a running set of kvnode processes, one per host namespace,
// and one Go client per node (each bound to its node alone, so a request
// is never silently retried on another node). It has a slot for each of
// its initial nodes and spares; Join, Leave and Remove change which are
// members.
type Cluster struct {
	cfg     ClusterConfig
	sp      *spawner
	clients []*client.Client

	mu     sync.Mutex
	procs  []*proc
	paused []bool
	offset []time.Duration
	state  []slotState
	// seeds are the gossip addresses each node joins through.
	seeds [][]string
}

// slotState is where a node's slot is in the cluster's life.
type slotState int

const (
	// spare: not started yet.
	spare slotState = iota
	// joining: started by Join, not known to have joined yet; the
	// workloads send nothing to it.
	joining
	// member: in the cluster; the workloads and the final checks use it.
	member
	// gone: left, or killed to be removed; never started again.
	gone
)

// StartCluster starts every node (n1 creates the cluster, the others join
// it) and waits until each sees all of them alive and normal.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 3
	}
	if cfg.Conflict == "" {
		cfg.Conflict = "lww"
	}
	if cfg.MaxClockOffset <= 0 {
		cfg.MaxClockOffset = 500 * time.Millisecond
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 1500 * time.Millisecond
	}
	slots := cfg.Nodes + cfg.Spares
	if h := cfg.Hosts.Count(); slots > h {
		return nil, fmt.Errorf("%d nodes and %d spares need as many hosts, have %d", cfg.Nodes, cfg.Spares, h)
	}
	c := &Cluster{cfg: cfg, sp: newSpawner(), procs: make([]*proc, slots), paused: make([]bool, slots),
		offset: make([]time.Duration, slots), state: make([]slotState, slots), seeds: make([][]string, slots)}
	for i := range cfg.Nodes {
		c.state[i] = member
		if i > 0 {
			c.seeds[i] = []string{c.gossipAddr(0)}
		}
	}
	opts := []client.Option{client.WithTimeout(cfg.OpTimeout)}
	if !cfg.Plain {
		tlsCfg, err := c.makeCerts()
		if err != nil {
			return nil, fmt.Errorf("certificates: %w", err)
		}
		opts = append(opts, client.WithTLS(tlsCfg))
	}
	for i := range slots {
		cl, err := client.New([]string{c.GRPCAddr(i)}, opts...)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.clients = append(c.clients, cl)
		if err := os.MkdirAll(c.dataDir(i), 0o755); err != nil {
			c.Close()
			return nil, err
		}
	}
	for i := range cfg.Nodes {
		if err := c.Start(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitReady(ctx, 60*time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// certDir holds the run's CA, certificates and gossip key.
func (c *Cluster) certDir() string { return filepath.Join(c.cfg.DataDir, "certs") }

// makeCerts makes the run's CA, a certificate per node (spares included)
// for its address, an admin client certificate and a gossip key, and
// returns the clients' TLS configuration.
func (c *Cluster) makeCerts() (*tls.Config, error) {
	d := c.certDir()
	if err := security.CreateCA(d, security.CertOptions{}); err != nil {
		return nil, err
	}
	for i := range c.Slots() {
		if err := security.CreateNode(d, ID(i), []string{c.cfg.Hosts.IP(i)}, security.CertOptions{}); err != nil {
			return nil, err
		}
	}
	if err := security.CreateClient(d, "chaos", security.RoleAdmin, security.CertOptions{}); err != nil {
		return nil, err
	}
	if err := security.CreateGossipKey(d); err != nil {
		return nil, err
	}
	return security.ClientConfig(filepath.Join(d, "ca.crt"), filepath.Join(d, security.ClientCertFile("chaos")), filepath.Join(d, security.ClientKeyFile("chaos")))
}

// ID is node i's id: n1, n2, ...
func ID(i int) string { return fmt.Sprintf("n%d", i+1) }

// Size is the initial node count.
func (c *Cluster) Size() int { return c.cfg.Nodes }

// Slots is the node count, spares included.
func (c *Cluster) Slots() int { return len(c.procs) }

// Members lists the nodes in the cluster now, in order: the initial ones
// and those Join started, until they leave or are killed to be removed.
func (c *Cluster) Members() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inState(member)
}

// inState lists the nodes in any of states; c.mu held.
func (c *Cluster) inState(states ...slotState) []int {
	var out []int
	for i, s := range c.state {
		if slices.Contains(states, s) {
			out = append(out, i)
		}
	}
	return out
}

// GRPCAddr is node i's gRPC address.
func (c *Cluster) GRPCAddr(i int) string { return fmt.Sprintf("%s:%d", c.cfg.Hosts.IP(i), grpcPort) }

func (c *Cluster) gossipAddr(i int) string {
	return fmt.Sprintf("%s:%d", c.cfg.Hosts.IP(i), gossipPort)
}

func (c *Cluster) dataDir(i int) string { return filepath.Join(c.cfg.DataDir, ID(i)) }

// Client is the client bound to node i.
func (c *Cluster) Client(i int) *client.Client { return c.clients[i] }

// Hosts are the cluster's namespaces.
func (c *Cluster) Hosts() *Hosts { return c.cfg.Hosts }

// args are node i's kvnode flags, with its current clock offset.
func (c *Cluster) args(i int, offset time.Duration) []string {
	a := []string{
		"--node-id", ID(i), "--data-dir", c.dataDir(i), "--cluster-name", "chaos",
		"--grpc-addr", c.GRPCAddr(i), "--gossip-addr", c.gossipAddr(i),
		"--peer-addr", fmt.Sprintf("%s:%d", c.cfg.Hosts.IP(i), peerPort),
		"--metrics-addr", fmt.Sprintf("%s:%d", c.cfg.Hosts.IP(i), metricsPort),
		"--conflict", c.cfg.Conflict, "--max-clock-offset", c.cfg.MaxClockOffset.String(),
		"--shutdown-timeout", shutdownTimeout.String(),
	}
	if c.cfg.Plain {
		a = append(a, "--insecure") // plain gRPC and gossip between the namespaces' addresses
	} else {
		d := c.certDir()
		a = append(a, "--tls-cert", filepath.Join(d, security.NodeCertFile(ID(i))),
			"--tls-key", filepath.Join(d, security.NodeKeyFile(ID(i))),
			"--tls-ca", filepath.Join(d, "ca.crt"), "--gossip-key-file", filepath.Join(d, "gossip.key"))
	}
	if len(c.seeds[i]) > 0 {
		a = append(a, "--join", strings.Join(c.seeds[i], ","))
	}
	if c.cfg.AntiEntropyInterval > 0 {
		a = append(a, "--anti-entropy-interval", c.cfg.AntiEntropyInterval.String())
	}
	if offset != 0 {
		a = append(a, "--test-clock-offset", offset.String())
	}
	return append(a, c.cfg.Args...)
}

// Start starts node i (again, on the same data directory) with its
// current clock offset. It does not wait for it to be ready. A node that
// left or was removed is not started.
func (c *Cluster) Start(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[i]; p != nil && !p.exited() {
		return fmt.Errorf("%s is running", ID(i))
	}
	switch c.state[i] {
	case gone:
		return fmt.Errorf("%s has left the cluster or was removed", ID(i))
	case spare:
		return fmt.Errorf("%s is a spare: Join starts it", ID(i))
	}
	return c.startLocked(i)
}

// startLocked starts node i; c.mu held.
func (c *Cluster) startLocked(i int) error {
	cmd := c.cfg.Hosts.Command(i, append([]string{c.cfg.KVNode}, c.args(i, c.offset[i])...)...)
	p, err := startProc(c.sp, cmd, c.logPath(i))
	if err != nil {
		return err
	}
	c.procs[i], c.paused[i] = p, false
	return nil
}

// Kill kills node i with SIGKILL and waits for it.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	p := c.procs[i]
	c.paused[i] = false
	c.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// Stop stops node i with SIGTERM and waits for it; if it has not exited
// stopGrace later, it kills it and says so in the error.
func (c *Cluster) Stop(i int) error {
	c.mu.Lock()
	p := c.procs[i]
	c.paused[i] = false
	c.mu.Unlock()
	if p != nil && !p.stop(stopGrace) {
		return fmt.Errorf("%s did not exit within %v of SIGTERM (--shutdown-timeout %v): killed", ID(i), stopGrace, shutdownTimeout)
	}
	return nil
}

// Restart stops node i gracefully and starts it with clock offset off.
// A node that had to be killed is started all the same; the error says so.
func (c *Cluster) Restart(i int, off time.Duration) error {
	stopErr := c.Stop(i)
	c.mu.Lock()
	c.offset[i] = off
	c.mu.Unlock()
	return errors.Join(stopErr, c.Start(i))
}

// Pause stops node i with SIGSTOP; Resume continues it.
func (c *Cluster) Pause(i int) error { return c.pauseResume(i, syscall.SIGSTOP, true) }

// Resume continues node i with SIGCONT.
func (c *Cluster) Resume(i int) error { return c.pauseResume(i, syscall.SIGCONT, false) }

func (c *Cluster) pauseResume(i int, sig syscall.Signal, paused bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.procs[i]
	if p == nil || p.exited() {
		return fmt.Errorf("%s is not running", ID(i))
	}
	c.paused[i] = paused
	return p.signal(sig)
}

// Offset is node i's current clock offset.
func (c *Cluster) Offset(i int) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset[i]
}

// Recover brings every node of the cluster back (those that left or were
// removed stay gone): resumed, running (started again if it exited) and,
// with normal clocks, restarted without offset; and every filter removed.
// It does not wait for readiness.
func (c *Cluster) Recover() error {
	var errs []error
	errs = append(errs, c.cfg.Hosts.HealAll())
	c.mu.Lock()
	nodes := c.inState(joining, member)
	c.mu.Unlock()
	for _, i := range nodes {
		c.mu.Lock()
		p, paused, off := c.procs[i], c.paused[i], c.offset[i]
		c.mu.Unlock()
		switch {
		case off != 0:
			errs = append(errs, c.Restart(i, 0))
		case p == nil || p.exited():
			errs = append(errs, c.Start(i))
		case paused:
			errs = append(errs, c.Resume(i))
		}
	}
	return errors.Join(errs...)
}

// WaitReady waits until every node of the cluster (Join's included) answers
// and sees every one alive and normal, or fails after timeout naming what
// it saw last.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		last := c.ready(ctx)
		if last == nil {
			return nil
		}
		c.mu.Lock()
		nodes := c.inState(joining, member)
		c.mu.Unlock()
		for _, i := range nodes {
			c.mu.Lock()
			p := c.procs[i]
			c.mu.Unlock()
			if p != nil && p.exited() {
				err := p.waitErr
				if err == nil {
					err = errors.New("exit status 0")
				}
				return fmt.Errorf("%s exited: %w (see %s)", ID(i), err, c.logPath(i))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready within %v: %w", timeout, last)
		case <-tick.C:
		}
	}
}

func (c *Cluster) ready(ctx context.Context) error {
	c.mu.Lock()
	nodes := c.inState(joining, member)
	c.mu.Unlock()
	want := map[string]bool{}
	for _, i := range nodes {
		want[ID(i)] = true
	}
	for _, i := range nodes {
		ms, err := c.clients[i].Members(ctx, client.WithTimeout(time.Second))
		if err != nil {
			return fmt.Errorf("%s: members: %w", ID(i), err)
		}
		alive := 0
		for _, m := range ms {
			if want[m.ID] && m.State == client.Alive && m.RingState == client.Normal {
				alive++
			}
		}
		if alive != len(nodes) {
			return fmt.Errorf("%s sees %d of %d members alive and normal", ID(i), alive, len(nodes))
		}
	}
	return nil
}

// Close kills every node, closes the clients and ends the spawner.
func (c *Cluster) Close() {
	for i := range c.Slots() {
		c.Kill(i)
	}
	for _, cl := range c.clients {
		_ = cl.Close() // nothing in flight any more
	}
	c.sp.close()
}
