package resp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/security"
)

// Buffer sizes of a connection: small, as there may be thousands.
const (
	readBufferBytes  = 16 << 10
	writeBufferBytes = 16 << 10
)

// writeTimeout bounds writing one batch's replies (a command's own time
// is bounded by Config.CommandTimeout).
const writeTimeout = time.Minute

// conn is one client connection, served by one goroutine (serve) that
// reads a command, runs it and writes its reply, flushing only when no
// further command is buffered, so pipelined commands share a write.
type conn struct {
	s      *Server
	nc     net.Conn
	id     int64
	addr   string
	opened time.Time

	// Set by the serving goroutine only; read by CLIENT LIST/INFO of
	// other connections under mu.
	mu         sync.Mutex
	name       string
	lastCmd    string
	lastActive time.Time

	draining atomic.Bool
	proto    atomic.Int32 // the writer's, for CLIENT LIST of other connections

	// Owned by the serving goroutine.
	rd       *Reader
	wr       *Writer
	identity *security.Identity // nil without TLS: every right
	read     replication.Level
	write    replication.Level
	quit     bool
}

func newConn(s *Server, nc net.Conn, id int64) *conn {
	now := time.Now()
	c := &conn{s: s, nc: nc, id: id, addr: nc.RemoteAddr().String(), opened: now, lastActive: now,
		read: s.cfg.ReadLevel, write: s.cfg.WriteLevel}
	c.proto.Store(2)
	return c
}

// drain makes the connection close after the command it is running.
func (c *conn) drain() {
	c.draining.Store(true)
	_ = c.nc.SetReadDeadline(time.Now())
}

// serve runs the connection until the client quits, the connection fails
// or the server stops it.
func (c *conn) serve() {
	defer func() { _ = c.nc.Close() }()
	c.rd = NewReader(bufio.NewReaderSize(c.nc, readBufferBytes), c.s.cfg.MaxCommandBytes)
	c.wr = NewWriter(bufio.NewWriterSize(c.nc, writeBufferBytes))
	if tc, ok := c.nc.(*tls.Conn); ok {
		if !c.handshake(tc) {
			return
		}
	}
	for !c.quit {
		if c.s.cfg.IdleTimeout > 0 && !c.draining.Load() && !c.rd.Buffered() {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
			if c.draining.Load() { // drain's deadline was overwritten
				_ = c.nc.SetReadDeadline(time.Now())
			}
		}
		batch, err := c.readBatch()
		// A client that stops reading its replies cannot hold the
		// connection's goroutine for longer than writeTimeout.
		_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		c.runBatch(batch)
		if err != nil {
			if errors.Is(err, ErrProtocol) && !c.quit {
				c.wr.Error("ERR Protocol error: " + strings.TrimPrefix(err.Error(), ErrProtocol.Error()+": "))
				_ = c.wr.Flush()
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !c.draining.Load() {
				c.s.log.Debug("resp connection ends", "addr", c.addr, "err", err)
			}
			_ = c.wr.Flush()
			return
		}
		if !c.rd.Buffered() || c.quit {
			if err := c.wr.Flush(); err != nil {
				return
			}
			if c.draining.Load() {
				return
			}
		}
	}
}

// handshake completes the TLS handshake and takes the identity of the
// client certificate; a connection without one is answered and closed.
func (c *conn) handshake(tc *tls.Conn) bool {
	ctx, cancel := context.WithTimeout(c.s.ctx, 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.s.log.Debug("resp TLS handshake failed", "addr", c.addr, "err", err)
		return false
	}
	id, err := c.s.identify(tc.ConnectionState())
	if err != nil {
		c.wr.Error("NOPERM " + err.Error())
		_ = c.wr.Flush()
		return false
	}
	c.identity = &id
	return true
}

// run runs one command and writes its reply.
func (c *conn) run(args [][]byte) {
	start := time.Now()
	name := lowerASCII(args[0])
	c.mu.Lock()
	c.lastCmd, c.lastActive = name, start
	c.mu.Unlock()
	c.s.stats.commands.Add(1)
	cmd, ok := c.s.commands[name]
	if !ok {
		c.wr.Error(unknownCommand(args))
		c.s.obs.Command("unknown", OutcomeInvalid, time.Since(start).Seconds())
		return
	}
	var outcome string
	switch {
	case !cmd.arityOK(len(args)):
		c.wr.Error("ERR wrong number of arguments for '" + name + "' command")
		outcome = OutcomeInvalid
	case !c.permitted(cmd.role):
		c.wr.Error(c.noPerm(name, cmd.role))
		outcome = OutcomeNotPermitted
	default:
		outcome = cmd.run(c, args)
	}
	c.s.obs.Command(cmd.name, outcome, time.Since(start).Seconds())
}

// permitted reports whether the connection's certificate has role.
func (c *conn) permitted(role security.Role) bool {
	if role == security.RoleNone || c.identity == nil {
		return true
	}
	return security.Allowed(c.identity.Role, role)
}

func (c *conn) noPerm(name string, role security.Role) string {
	return "NOPERM '" + name + "' needs the " + role.String() + " role; this certificate (" + c.identity.String() + ") has " + c.identity.Role.String()
}

// ctx returns the context of one backend call: the server's, bounded by
// the command timeout, carrying the connection's identity.
func (c *conn) ctx() (context.Context, context.CancelFunc) {
	ctx := c.s.ctx
	if c.identity != nil {
		ctx = security.WithIdentity(ctx, *c.identity)
	}
	return context.WithTimeout(ctx, c.s.cfg.CommandTimeout)
}

func unknownCommand(args [][]byte) string {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.WriteString(printable(truncate(args[0], 128)))
	b.WriteString("', with args beginning with: ")
	for _, a := range args[1:min(len(args), 4)] {
		b.WriteString("'")
		b.WriteString(printable(truncate(a, 64)))
		b.WriteString("' ")
	}
	return b.String()
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
