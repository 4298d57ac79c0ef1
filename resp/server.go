package resp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/security"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("resp: server closed")

// Server is a RESP listener. Serve runs it; Shutdown and Close stop it
// and wait for every goroutine it started.
type Server struct {
	cfg      Config
	log      *slog.Logger
	obs      Observer
	commands map[string]*command

	// ctx is every command's parent: cancelled by Close to cut the
	// backend calls in flight.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	lis      net.Listener
	conns    map[*conn]struct{}
	closed   bool
	draining bool
	wg       sync.WaitGroup // Serve's accept loop and every connection

	nextID  atomic.Int64
	started time.Time
	stats   struct {
		connections, commands, rejected atomic.Int64
	}
}

// NewServer returns a Server with cfg; it serves nothing until Serve.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 10 * time.Second
	}
	if cfg.Conflict == "" {
		cfg.Conflict = "lww"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, obs: cfg.Observer, conns: map[*conn]struct{}{}, started: time.Now()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	s.commands = commandTable()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// CommandNames returns the lower-case names of the commands the server
// knows, for metrics created up front.
func CommandNames() []string {
	var out []string
	for name := range commandTable() {
		out = append(out, name)
	}
	return out
}

// Serve accepts connections on lis until Shutdown or Close, serving each
// on a goroutine of its own; with Config.TLS the connections are TLS.
// It returns ErrServerClosed after Shutdown or Close, or the accept
// error that stopped it. Serve closes lis.
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	if s.closed || s.draining {
		s.mu.Unlock()
		_ = lis.Close()
		return ErrServerClosed
	}
	s.lis = lis
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := lis.Accept()
		if err != nil {
			if s.stopping() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff) //nolint:forbidigo // accept backoff, as net/http does
				continue
			}
			return err
		}
		backoff = 0
		s.accept(nc)
	}
}

func (s *Server) stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed || s.draining
}

// accept starts serving nc, or refuses it over the connection cap.
func (s *Server) accept(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.draining {
		_ = nc.Close()
		return
	}
	if len(s.conns) >= s.cfg.MaxClients {
		s.stats.rejected.Add(1)
		s.wg.Add(1)
		go func() { // the refusal must not hold up the accept loop
			defer s.wg.Done()
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			if s.cfg.TLS == nil { // a TLS client would need a handshake first
				_, _ = nc.Write([]byte("-ERR max number of clients reached (--resp-max-clients)\r\n"))
			}
			_ = nc.Close()
		}()
		return
	}
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS)
	}
	c := newConn(s, nc, s.nextID.Add(1))
	s.conns[c] = struct{}{}
	s.stats.connections.Add(1)
	s.obs.Connections(1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.forget(c)
		c.serve()
	}()
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.obs.Connections(-1)
}

// Shutdown stops accepting, lets every connection finish the command it
// is running and closes it, and waits for them until ctx is done; then
// it cuts the rest as Close does. It returns ctx's error if it had to.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	if s.lis != nil {
		_ = s.lis.Close()
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.Close()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting, cancels the commands in flight, closes every
// connection and waits for their goroutines. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	if s.lis != nil {
		_ = s.lis.Close()
	}
	s.cancel()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// clients returns the open connections' CLIENT INFO lines' data.
func (s *Server) clients() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// identify returns the identity of a TLS connection after its handshake.
func (s *Server) identify(cs tls.ConnectionState) (security.Identity, error) {
	if s.cfg.Identify != nil {
		return s.cfg.Identify(cs)
	}
	return security.ConnIdentity(cs, time.Now())
}
