package clustertest

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func pair(t *testing.T) (*Network, *Transport, *Transport) {
	t.Helper()
	n := NewNetwork()
	a, err := n.NewTransport("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.NewTransport("127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(); _ = b.Shutdown() })
	return n, a, b
}

func recvPacket(t *testing.T, tr *Transport) (*memberlist.Packet, bool) {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p, true
	case <-time.After(50 * time.Millisecond):
		return nil, false
	}
}

func TestTransport_packets(t *testing.T) {
	n, a, b := pair(t)
	if _, err := a.WriteTo([]byte("hello"), b.Addr()); err != nil {
		t.Fatal(err)
	}
	p, ok := recvPacket(t, b)
	if !ok || string(p.Buf) != "hello" || p.From.String() != a.Addr() {
		t.Fatalf("got %+v, %v", p, ok)
	}

	n.Cut(a.Addr(), b.Addr())
	if n.Connected(b.Addr(), a.Addr()) {
		t.Fatal("cut link reported connected")
	}
	if _, err := b.WriteTo([]byte("lost"), a.Addr()); err != nil {
		t.Fatalf("a packet over a cut link must be dropped silently, got %v", err)
	}
	if _, ok := recvPacket(t, a); ok {
		t.Fatal("packet crossed a cut link")
	}
	n.Heal(b.Addr(), a.Addr())
	if _, err := b.WriteTo([]byte("back"), a.Addr()); err != nil {
		t.Fatal(err)
	}
	if p, ok := recvPacket(t, a); !ok || string(p.Buf) != "back" {
		t.Fatal("packet lost after heal")
	}
	if got := n.Packets(b.Addr(), a.Addr()); got != 2 {
		t.Fatalf("Packets = %d, want 2 (one dropped, one delivered)", got)
	}
	if _, err := a.WriteTo([]byte("x"), "127.0.0.1:9"); err != nil {
		t.Fatalf("a packet to nobody must be dropped silently, got %v", err)
	}
}

func TestTransport_streams(t *testing.T) {
	n, a, b := pair(t)
	accepted := make(chan net.Conn, 1)
	go func() { accepted <- <-b.StreamCh() }()
	c, err := a.DialTimeout(b.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s.RemoteAddr().String() != a.Addr() || c.RemoteAddr().String() != b.Addr() {
		t.Fatalf("addresses: %v, %v", s.RemoteAddr(), c.RemoteAddr())
	}
	go func() { _, _ = c.Write([]byte("ping")) }()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}

	// Cutting the link breaks the open stream and refuses new ones.
	n.Cut(a.Addr(), b.Addr())
	if _, err := s.Read(buf); err == nil {
		t.Fatal("stream survived the cut")
	}
	_, err = a.DialTimeout(b.Addr(), time.Second)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial over a cut link = %v, want a refused *net.OpError", err)
	}
	if got := n.Dials(a.Addr(), b.Addr()); got != 2 {
		t.Fatalf("Dials = %d, want 2", got)
	}
	n.HealAll()

	// Nobody accepts: the dial times out.
	if _, err := a.DialTimeout(b.Addr(), 20*time.Millisecond); err == nil {
		t.Fatal("dial nobody accepted succeeded")
	}
}

func TestTransport_shutdownReleasesAddress(t *testing.T) {
	n, a, b := pair(t)
	accepted := make(chan net.Conn, 1)
	go func() { accepted <- <-b.StreamCh() }()
	c, err := a.DialTimeout(b.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	<-accepted
	if _, err := n.NewTransport(b.Addr()); err == nil {
		t.Fatal("address taken twice")
	}
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("stream survived the peer's shutdown")
	}
	if _, err := a.DialTimeout(b.Addr(), time.Second); err == nil {
		t.Fatal("dial to a shut-down transport succeeded")
	}
	if _, err := a.WriteTo([]byte("x"), b.Addr()); err != nil {
		t.Fatal(err)
	}
	// A restarted node takes the address back.
	b2, err := n.NewTransport(b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Shutdown()
	if _, err := a.WriteTo([]byte("again"), b2.Addr()); err != nil {
		t.Fatal(err)
	}
	if p, ok := recvPacket(t, b2); !ok || string(p.Buf) != "again" {
		t.Fatal("restarted transport got nothing")
	}
	if _, err := b.WriteTo([]byte("x"), a.Addr()); err == nil {
		t.Fatal("a shut-down transport sent")
	}
}

func TestNetwork_NewTransport_badAddress(t *testing.T) {
	n := NewNetwork()
	for _, addr := range []string{"nope", "host:1", "127.0.0.1:0", "127.0.0.1:99999"} {
		if _, err := n.NewTransport(addr); err == nil {
			t.Errorf("NewTransport(%q) succeeded", addr)
		}
	}
}
