package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
)

// Hosts are the simulated machines of a run: one network namespace per
// node, each with one veth into a bridge namespace, and one veth from the
// harness's (root) namespace into the same bridge, so the harness reaches
// every node and no fault ever touches its own link. Addresses come from a
// private /24 (10.77.X.0/24) that exists only on those links.
//
// Every name carries a per-process prefix ("qkc" + pid + a letter), so a
// later run can tell stale leftovers (their pid is gone) from a live run's
// and remove them.
//
// Faults are nftables rules in a node's own namespace (table inet chaos):
// SetFilter replaces the rules of its input chain.
type Hosts struct {
	prefix string
	subnet netip.Prefix
	nodes  int
	closed atomic.Bool
}

// namePrefix starts every namespace and link name the harness creates.
const namePrefix = "qkc"

var hostsSeq atomic.Int32

// stalePattern matches names made by a harness; the group is its pid.
var stalePattern = regexp.MustCompile(`^` + namePrefix + `([0-9]+)[a-z]`)

// NewHosts makes the namespaces of n nodes. It removes stale ones of dead
// harnesses first. It fails, with the reason, when namespaces cannot be
// made (not root, no iproute2 or nft, no kernel support).
func NewHosts(n int) (*Hosts, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the chaos suite needs root: it makes network namespaces, veth links and nftables rules")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("the chaos suite needs %s (Debian: iproute2, nftables): %w", tool, err)
		}
	}
	CleanStale()
	k := hostsSeq.Add(1) - 1
	h := &Hosts{prefix: fmt.Sprintf("%s%d%c", namePrefix, os.Getpid(), 'a'+k%26), nodes: n}
	subnet, err := freeSubnet(os.Getpid()*7 + int(k))
	if err != nil {
		return nil, err
	}
	h.subnet = subnet
	if err := h.create(); err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("cannot make network namespaces: %w", err)
	}
	return h, nil
}

// freeSubnet picks a 10.77.X.0/24 that overlaps no route or address of
// the root namespace, starting from a spot derived from seed.
func freeSubnet(seed int) (netip.Prefix, error) {
	var used []netip.Prefix
	for _, args := range [][]string{{"ip", "-4", "-o", "route", "show", "table", "all"}, {"ip", "-4", "-o", "addr"}} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		for _, f := range strings.Fields(string(out)) {
			if p, err := netip.ParsePrefix(f); err == nil {
				used = append(used, p)
			} else if a, err := netip.ParseAddr(f); err == nil {
				used = append(used, netip.PrefixFrom(a, a.BitLen()))
			}
		}
	}
	for i := range 254 {
		x := (seed+i)%254 + 1
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, byte(x), 0}), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("no free 10.77.X.0/24 subnet for the chaos hosts: every one overlaps a route or address")
}

// CleanStale removes the namespaces and root links of harnesses whose
// process is gone.
func CleanStale() {
	dead := func(name string) bool {
		m := stalePattern.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil {
			return false
		}
		_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
		return errors.Is(err, os.ErrNotExist)
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && dead(f[0]) {
				_ = exec.Command("ip", "netns", "del", f[0]).Run() // best effort
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if dead(name) {
				_ = exec.Command("ip", "link", "del", name).Run() // best effort
			}
		}
	}
}

// bridgeNS, NodeNS and hostLink name the namespaces and the root link.
func (h *Hosts) bridgeNS() string    { return h.prefix + "-br" }
func (h *Hosts) hostLink() string    { return h.prefix + "h" }
func (h *Hosts) NodeNS(i int) string { return fmt.Sprintf("%s-n%d", h.prefix, i+1) }

// Count is the number of node namespaces.
func (h *Hosts) Count() int { return h.nodes }

// Prefix is the run's name prefix.
func (h *Hosts) Prefix() string { return h.prefix }

// Subnet is the hosts' private /24.
func (h *Hosts) Subnet() netip.Prefix { return h.subnet }

// IP is the address of node i (0-based): 10.77.X.11, .12, ...
func (h *Hosts) IP(i int) string {
	b := h.subnet.Addr().As4()
	b[3] = byte(11 + i)
	return netip.AddrFrom4(b).String()
}

// HarnessIP is the harness's own address on the bridge.
func (h *Hosts) HarnessIP() string {
	b := h.subnet.Addr().As4()
	b[3] = 254
	return netip.AddrFrom4(b).String()
}

func runCmd(stdin string, args ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// baseRules is the nftables table of every node namespace: an input chain
// the faults fill, and nothing else.
const baseRules = `table inet chaos {
	chain input { type filter hook input priority 0; policy accept; }
}
`

func (h *Hosts) create() error {
	br := h.bridgeNS()
	cidr := func(ip string) string { return ip + "/24" }
	steps := [][]string{
		{"ip", "netns", "add", br},
		{"ip", "-n", br, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", br, "link", "set", "br0", "up"},
		{"ip", "-n", br, "link", "set", "lo", "up"},
		{"ip", "link", "add", h.hostLink(), "type", "veth", "peer", "name", "harness", "netns", br},
		{"ip", "-n", br, "link", "set", "harness", "master", "br0"},
		{"ip", "-n", br, "link", "set", "harness", "up"},
		{"ip", "addr", "add", cidr(h.HarnessIP()), "dev", h.hostLink()},
		{"ip", "link", "set", h.hostLink(), "up"},
	}
	for i := range h.nodes {
		ns, port := h.NodeNS(i), fmt.Sprintf("n%d", i+1)
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "-n", br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"ip", "-n", br, "link", "set", port, "master", "br0"},
			[]string{"ip", "-n", br, "link", "set", port, "up"},
			[]string{"ip", "-n", ns, "addr", "add", cidr(h.IP(i)), "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := runCmd("", s...); err != nil {
			return err
		}
	}
	for i := range h.nodes {
		if err := runCmd(baseRules, "ip", "netns", "exec", h.NodeNS(i), "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs argv inside node i's namespace.
func (h *Hosts) Command(i int, argv ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NodeNS(i)}, argv...)...)
}

// SetFilter replaces the input rules of node i's namespace with rules
// (nftables rule statements, each one line; none: accept everything).
func (h *Hosts) SetFilter(i int, rules []string) error {
	var b strings.Builder
	b.WriteString("flush chain inet chaos input\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "add rule inet chaos input %s\n", r)
	}
	return runCmd(b.String(), "ip", "netns", "exec", h.NodeNS(i), "nft", "-f", "-")
}

// HealAll removes every filter rule of every node.
func (h *Hosts) HealAll() error {
	var errs []error
	for i := range h.nodes {
		errs = append(errs, h.SetFilter(i, nil))
	}
	return errors.Join(errs...)
}

// The rule makers. Each returns nftables rule statements for a node's input
// chain.

// dropFrom drops every packet from ip: requests and replies, gRPC and
// gossip. Connections hang until their timeouts, as across a real
// partition.
func dropFrom(ip string) []string { return []string{"ip saddr " + ip + " drop"} }

// resetFrom answers every TCP packet from ip with a reset and drops the
// rest: the link fails at once rather than hang. Resets themselves pass,
// so that a link reset from both ends still breaks both ends' connections.
func resetFrom(ip string) []string {
	return []string{
		"ip saddr " + ip + " tcp flags & rst == rst accept",
		"ip saddr " + ip + " meta l4proto tcp reject with tcp reset",
		"ip saddr " + ip + " drop",
	}
}

// dropGossipFrom drops the gossip (memberlist, TCP and UDP) from ip, to
// and from port, and lets gRPC through.
func dropGossipFrom(ip string, port int) []string {
	var rs []string
	for _, proto := range []string{"tcp", "udp"} {
		for _, dir := range []string{"sport", "dport"} {
			rs = append(rs, fmt.Sprintf("ip saddr %s %s %s %d drop", ip, proto, dir, port))
		}
	}
	return rs
}

// Close removes the namespaces and the root link. Processes still running
// in the namespaces keep them alive until they exit; kill them first.
func (h *Hosts) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	var errs []error
	for i := range h.nodes {
		if err := runCmd("", "ip", "netns", "del", h.NodeNS(i)); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	if err := runCmd("", "ip", "netns", "del", h.bridgeNS()); err != nil && !strings.Contains(err.Error(), "No such file") {
		errs = append(errs, err)
	}
	// The root end of the harness link goes with its peer's namespace, but
	// asynchronously: delete it now so its route is gone too.
	_ = exec.Command("ip", "link", "del", h.hostLink()).Run() // absent already: fine
	return errors.Join(errs...)
}
