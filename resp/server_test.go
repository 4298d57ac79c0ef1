package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// serve starts a Server with cfg (defaults filled in) on a loopback port
// and closes it at the test's end.
func serve(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Backend == nil {
		cfg.Backend = newMemBackend()
	}
	if cfg.MaxCommandBytes == 0 {
		cfg.MaxCommandBytes = 64 << 10
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, lis.Addr().String()
}

// dial opens a raw connection; roundTrip writes req and reads one line.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, req string) string {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reply to %q: %v", req, err)
	}
	return strings.TrimRight(line, "\r\n")
}

// A bulk length over the limit is refused from its header: the server
// answers a protocol error and closes the connection without waiting for
// (or allocating) the announced bytes.
func TestServer_bulkLengthCheckedBeforeReading(t *testing.T) {
	_, addr := serve(t, Config{ReadLevel: 2, WriteLevel: 2, MaxClients: 10, MaxCommandBytes: 4096})
	c, r := dial(t, addr)
	got := roundTrip(t, c, r, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000000\r\n")
	if !strings.HasPrefix(got, "-ERR Protocol error: invalid bulk length") {
		t.Fatalf("reply to a 1 GB bulk header: %q", got)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("connection after a protocol error: %v, want EOF", err)
	}
}

// Past MaxClients a connection is answered with an error and closed; a
// closed one makes room.
func TestServer_maxClients(t *testing.T) {
	_, addr := serve(t, Config{ReadLevel: 2, WriteLevel: 2, MaxClients: 2})
	c1, r1 := dial(t, addr)
	c2, r2 := dial(t, addr)
	for _, cr := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{c1, r1}, {c2, r2}} {
		if got := roundTrip(t, cr.c, cr.r, "PING\r\n"); got != "+PONG" {
			t.Fatalf("PING: %q", got)
		}
	}
	c3, r3 := dial(t, addr)
	_, _ = io.WriteString(c3, "PING\r\n")
	if got, _ := r3.ReadString('\n'); !strings.HasPrefix(got, "-ERR max number of clients reached") {
		t.Fatalf("third connection of two allowed: %q", got)
	}
	_ = c1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c4, r4 := dial(t, addr)
		_, _ = io.WriteString(c4, "PING\r\n")
		got, _ := r4.ReadString('\n')
		if got == "+PONG\r\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after a connection closed: %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A connection that sends nothing for IdleTimeout is closed.
func TestServer_idleTimeout(t *testing.T) {
	_, addr := serve(t, Config{ReadLevel: 2, WriteLevel: 2, MaxClients: 10, IdleTimeout: 200 * time.Millisecond})
	c, r := dial(t, addr)
	if got := roundTrip(t, c, r, "PING\r\n"); got != "+PONG" {
		t.Fatalf("PING: %q", got)
	}
	start := time.Now()
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed after %v, want about 200ms", d)
	}
}

// Shutdown lets a command in flight finish and answer, then closes the
// connection; Close cuts a command in flight. Neither leaves a goroutine
// (goleak in TestMain).
func TestServer_shutdownDrainsAndCloseCuts(t *testing.T) {
	b := newMemBackend()
	b.block = make(chan struct{})
	s, addr := serve(t, Config{ReadLevel: 2, WriteLevel: 2, MaxClients: 10, Backend: b})
	c, r := dial(t, addr)
	idle, idleR := dial(t, addr)
	if got := roundTrip(t, idle, idleR, "PING\r\n"); got != "+PONG" {
		t.Fatal(got)
	}
	if _, err := io.WriteString(c, "GET k\r\n"); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, b, 1)
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// The idle connection is closed at once.
	if _, err := idleR.ReadString('\n'); err != io.EOF {
		t.Fatalf("idle connection during shutdown: %v, want EOF", err)
	}
	close(b.block)
	if got, err := r.ReadString('\n'); err != nil || got != "$-1\r\n" {
		t.Fatalf("the command in flight at shutdown: %q, %v; want its answer", got, err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	b2 := newMemBackend()
	b2.block = make(chan struct{}) // never released: Close must cut it
	s2, addr2 := serve(t, Config{ReadLevel: 2, WriteLevel: 2, MaxClients: 10, Backend: b2})
	c2, r2 := dial(t, addr2)
	if _, err := io.WriteString(c2, "GET k\r\n"); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, b2, 1)
	s2.Close()
	if got, err := r2.ReadString('\n'); err == nil && got != "" {
		t.Logf("reply after Close: %q", got)
	}
}

func waitCalls(t *testing.T, b *memBackend, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		calls := b.calls
		b.mu.Unlock()
		if calls >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backend calls, want %d", calls, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Many connections at once, each pipelining, through go-redis.
func TestServer_concurrentPipelinedClients(t *testing.T) {
	_, addr := serve(t, Config{ReadLevel: 2, WriteLevel: 2, MaxClients: 1000})
	rc := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 50, Protocol: 3, DisableIdentity: true})
	defer rc.Close()
	ctx := context.Background()
	errs := make(chan error, 50)
	for w := range 50 {
		go func() {
			pipe := rc.Pipeline()
			for i := range 100 {
				pipe.SAdd(ctx, "set", w*1000+i)
			}
			_, err := pipe.Exec(ctx)
			errs <- err
		}()
	}
	for range 50 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n, err := rc.SCard(ctx, "set").Result(); err != nil || n != 5000 {
		t.Fatalf("SCARD after 50 x 100 pipelined adds: %d, %v", n, err)
	}
}

// Pipelined commands on different keys run at once, those on one key in
// order, and the replies come back in the order sent.
func TestConn_pipelineOrder(t *testing.T) {
	// siblings: a SET reads first and replaces, in the in-memory backend
	_, addr := serve(t, Config{ReadLevel: 2, WriteLevel: 2, MaxClients: 10, Conflict: "siblings"})
	c, r := dial(t, addr)
	var req strings.Builder
	for i := range 20 {
		fmt.Fprintf(&req, "SET k %d\r\nGET k\r\nSET other%d x\r\nGET other%d\r\n", i, i, i)
	}
	req.WriteString("QKV.CONSISTENCY one\r\nMGET k other0\r\nDEL k\r\nEXISTS k\r\n")
	if _, err := io.WriteString(c, req.String()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		for _, want := range []string{"+OK", "$" + fmt.Sprint(len(fmt.Sprint(i))), fmt.Sprint(i), "+OK", "$1", "x"} {
			if got, _ := r.ReadString('\n'); strings.TrimRight(got, "\r\n") != want {
				t.Fatalf("round %d: %q, want %q", i, got, want)
			}
		}
	}
	for _, want := range []string{"+OK", "*2", "$2", "19", "$1", "x", ":1", ":0"} {
		if got, _ := r.ReadString('\n'); strings.TrimRight(got, "\r\n") != want {
			t.Fatalf("tail: %q, want %q", got, want)
		}
	}
}

// Hundreds of connections at once, each answered.
func TestServer_manyConnections(t *testing.T) {
	s, addr := serve(t, Config{ReadLevel: 2, WriteLevel: 2, MaxClients: 1000})
	const n = 300
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range n {
		conns[i], readers[i] = dial(t, addr)
	}
	for i := range n {
		if _, err := fmt.Fprintf(conns[i], "ECHO c%d\r\n", i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := readers[i].ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if got, _ := readers[i].ReadString('\n'); got != fmt.Sprintf("c%d\r\n", i) {
			t.Fatalf("connection %d: %q", i, got)
		}
	}
	if got := len(s.clients()); got != n {
		t.Fatalf("%d clients, want %d", got, n)
	}
}
