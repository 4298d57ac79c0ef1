package clustertest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

type memberlistPacket = memberlist.Packet

// Transport is one node's memberlist transport on a Network. Pass it as
// cluster.Config.Transport; memberlist shuts it down.
type Transport struct {
	net      *Network
	addr     Addr
	ip       net.IP
	port     int
	packetCh chan *memberlistPacket
	streamCh chan net.Conn
	done     chan struct{}
	stopOnce sync.Once
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// errClosed is returned by operations on a shut-down transport.
var errClosed = errors.New("clustertest: transport is shut down")

// Addr returns the transport's address, "ip:port".
func (t *Transport) Addr() string { return string(t.addr) }

// FinalAdvertiseAddr returns the transport's own address, whatever is asked.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

// WriteTo sends a packet to addr.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet to a.Addr. Like UDP it never fails for the
// receiver's sake: over a cut link, to an address nobody holds, or to a full
// queue, the packet is dropped silently.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	if t.closed() {
		return now, errClosed
	}
	dest := t.net.route(string(t.addr), a.Addr, t.net.packets)
	if dest == nil {
		return now, nil
	}
	p := &memberlist.Packet{Buf: bytes.Clone(b), From: t.addr, Timestamp: now}
	select {
	case dest.packetCh <- p:
	default: // queue full: dropped, as UDP would
	}
	return now, nil
}

// PacketCh returns the channel of received packets.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// IngestPacket reads a whole packet from conn and queues it as received
// from addr.
func (t *Transport) IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	if shouldClose {
		defer func() { _ = conn.Close() }()
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return fmt.Errorf("clustertest: reading packet: %w", err)
	}
	if len(b) == 0 {
		return errors.New("clustertest: empty packet")
	}
	select {
	case t.packetCh <- &memberlist.Packet{Buf: b, From: addr, Timestamp: now}:
		return nil
	case <-t.done:
		return errClosed
	}
}

// DialTimeout opens a stream to addr.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to a.Addr. Over a cut link or to an
// address nobody holds it fails at once with a *net.OpError (connection
// refused), which memberlist treats as the peer failing.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Source: t.addr, Addr: Addr(a.Addr), Err: syscall.ECONNREFUSED}
	if t.closed() {
		return nil, errClosed
	}
	dest := t.net.route(string(t.addr), a.Addr, t.net.dials)
	if dest == nil {
		return nil, refused
	}
	near, far := t.net.pipe(t, dest)
	var timer <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		timer = tm.C
	}
	select {
	case dest.streamCh <- far:
		return near, nil
	case <-dest.done:
	case <-t.done:
	case <-timer:
	}
	_ = near.Close()
	_ = far.Close()
	return nil, refused
}

// StreamCh returns the channel of accepted streams.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// IngestStream queues conn as an accepted stream.
func (t *Transport) IngestStream(conn net.Conn) error {
	select {
	case t.streamCh <- conn:
		return nil
	case <-t.done:
		return errClosed
	}
}

// Shutdown releases the address and breaks the transport's open streams.
// It is idempotent.
func (t *Transport) Shutdown() error {
	t.stopOnce.Do(func() {
		close(t.done)
		for _, c := range t.net.unregister(t) {
			_ = c.Close()
		}
	})
	return nil
}

func (t *Transport) closed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// pipeConn is one end of an in-memory stream.
type pipeConn struct {
	net.Conn
	net           *Network
	owner, peer   *Transport // the transport holding this end, the other one
	local, remote Addr
	closeOnce     sync.Once
}

func (c *pipeConn) LocalAddr() net.Addr  { return c.local }
func (c *pipeConn) RemoteAddr() net.Addr { return c.remote }

// Close closes this end (the other end then reads EOF) and forgets it.
func (c *pipeConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.net.mu.Lock()
		delete(c.net.conns, c)
		c.net.mu.Unlock()
	})
	return err
}

// pipe creates a stream between from and to and returns from's end and
// to's end.
func (n *Network) pipe(from, to *Transport) (near, far *pipeConn) {
	a, b := net.Pipe()
	near = &pipeConn{Conn: a, net: n, owner: from, peer: to, local: from.addr, remote: to.addr}
	far = &pipeConn{Conn: b, net: n, owner: to, peer: from, local: to.addr, remote: from.addr}
	n.mu.Lock()
	n.conns[near] = struct{}{}
	n.conns[far] = struct{}{}
	n.mu.Unlock()
	return near, far
}

// Network returns "clustertest".
func (a Addr) Network() string { return "clustertest" }

// String returns the address, "ip:port".
func (a Addr) String() string { return string(a) }
