// Package clustertest is an in-memory network for memberlist, for tests of
// package cluster and of anything built on it: any number of nodes in one
// process, each on its own Transport, with links a test can cut and heal.
// It is imported by tests only and never compiled into the library.
//
// It plays the role of memberlist.MockNetwork, which cannot serve here:
// MockTransport delivers on unbuffered channels and ignores Shutdown, so a
// node that sends to a stopped peer (or two nodes acking each other's
// pings) blocks forever, and it cannot cut links. Here packets behave like
// UDP (dropped when the link is cut, the peer is gone or its queue is
// full; never an error) and streams like TCP (a dial over a cut link or to
// a stopped peer is refused; cutting a link or shutting a transport down
// breaks its open streams).
package clustertest

import (
	"fmt"
	"net"
	"strconv"
	"sync"
)

// packetQueue is how many packets a transport buffers before it drops.
const packetQueue = 1024

// Addr is a node's address on a Network, "ip:port".
type Addr string

// Network is the in-memory network. Its zero value is not usable; call
// NewNetwork. It is safe for concurrent use.
type Network struct {
	mu      sync.Mutex
	nodes   map[string]*Transport // open transports by address
	cut     map[link]bool
	conns   map[*pipeConn]struct{}
	packets map[[2]string]uint64 // attempted packets, from -> to
	dials   map[[2]string]uint64 // attempted dials, from -> to
}

// link is an unordered pair of addresses.
type link struct{ a, b string }

func linkOf(a, b string) link {
	if a > b {
		a, b = b, a
	}
	return link{a, b}
}

// NewNetwork returns an empty network with every link up.
func NewNetwork() *Network {
	return &Network{
		nodes:   map[string]*Transport{},
		cut:     map[link]bool{},
		conns:   map[*pipeConn]struct{}{},
		packets: map[[2]string]uint64{},
		dials:   map[[2]string]uint64{},
	}
}

// NewTransport returns a transport listening on addr ("ip:port"), which
// must not be held by another open transport. A restarted node may take
// the address of its shut-down predecessor; cuts are kept per address, so
// they still apply.
func (n *Network) NewTransport(addr string) (*Transport, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("clustertest: address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	port, err := strconv.Atoi(portStr)
	if ip == nil || err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("clustertest: address %q is not ip:port", addr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.nodes[addr]; ok {
		return nil, fmt.Errorf("clustertest: address %s is in use", addr)
	}
	t := &Transport{
		net:      n,
		addr:     Addr(addr),
		ip:       ip,
		port:     port,
		packetCh: make(chan *memberlistPacket, packetQueue),
		streamCh: make(chan net.Conn),
		done:     make(chan struct{}),
	}
	n.nodes[addr] = t
	return t, nil
}

// Cut breaks the link between a and b, both ways: packets are dropped,
// dials refused, open streams closed. Cutting a cut link does nothing.
func (n *Network) Cut(a, b string) {
	n.mu.Lock()
	n.cut[linkOf(a, b)] = true
	var broken []*pipeConn
	for c := range n.conns {
		if linkOf(string(c.local), string(c.remote)) == linkOf(a, b) {
			broken = append(broken, c)
		}
	}
	n.mu.Unlock()
	for _, c := range broken {
		_ = c.Close()
	}
}

// Heal restores the link between a and b.
func (n *Network) Heal(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, linkOf(a, b))
}

// HealAll restores every link.
func (n *Network) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
}

// Connected reports whether the link between a and b is up (whether or
// not anything listens on them).
func (n *Network) Connected(a, b string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.cut[linkOf(a, b)]
}

// Packets returns how many packets from tried to send to to so far,
// delivered or dropped.
func (n *Network) Packets(from, to string) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.packets[[2]string{from, to}]
}

// Dials returns how many streams from tried to open to to so far,
// accepted or refused.
func (n *Network) Dials(from, to string) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dials[[2]string{from, to}]
}

// route returns the open transport at to if the link from -> to is up,
// counting the attempt in count.
func (n *Network) route(from, to string, count map[[2]string]uint64) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	count[[2]string{from, to}]++
	if n.cut[linkOf(from, to)] {
		return nil
	}
	return n.nodes[to]
}

// unregister removes t and returns the streams it holds.
func (n *Network) unregister(t *Transport) []*pipeConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes[string(t.addr)] == t {
		delete(n.nodes, string(t.addr))
	}
	var broken []*pipeConn
	for c := range n.conns {
		if c.owner == t || c.peer == t {
			broken = append(broken, c)
		}
	}
	return broken
}
