package resp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/security"
)

// Config is a Server's settings and collaborators.
type Config struct {
	// NodeID names the node in INFO and HELLO.
	NodeID string
	// Version is the server version HELLO and INFO report.
	Version string
	// Conflict is the cluster's conflict policy ("lww" or "siblings"):
	// under siblings a SET reads first and writes with what it read.
	// Empty means lww.
	Conflict string
	// ReadLevel and WriteLevel are a new connection's consistency levels
	// (QKV.CONSISTENCY changes them per connection); zero is invalid.
	ReadLevel, WriteLevel replication.Level
	// MaxClients caps the open connections; one more is answered with an
	// error and closed. At least 1.
	MaxClients int
	// MaxCommandBytes bounds one command: its arguments plus 32 bytes
	// each. Required (the node passes key + value + token limits and
	// framing).
	MaxCommandBytes int
	// IdleTimeout closes a connection that sends nothing for that long;
	// zero never does.
	IdleTimeout time.Duration
	// CommandTimeout bounds one data command's call to the backend; zero
	// means 10s.
	CommandTimeout time.Duration
	// TLS, when set, makes the listener require TLS with a verified
	// client certificate; Identify then gives each connection its
	// identity. Nil: plain TCP, every connection may do everything.
	TLS *tls.Config
	// Identify returns the identity of a verified TLS connection (nil:
	// security.ConnIdentity at the current time).
	Identify func(tls.ConnectionState) (security.Identity, error)
	// Backend runs the data commands; required.
	Backend Backend
	// Cluster answers INFO's cluster and keyspace sections; nil leaves
	// them empty.
	Cluster ClusterInfo
	// Observer receives metrics; nil: none.
	Observer Observer
	// Logger receives connection errors at debug level; nil: slog.Default.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with the defaults of kvnode's flags; the
// caller sets Backend, MaxCommandBytes and the rest.
func DefaultConfig() Config {
	return Config{
		Conflict:       "lww",
		ReadLevel:      replication.Quorum,
		WriteLevel:     replication.Quorum,
		MaxClients:     10000,
		IdleTimeout:    10 * time.Minute,
		CommandTimeout: 10 * time.Second,
	}
}

// Validate reports a setting the server cannot run with.
func (c Config) Validate() error {
	var errs []error
	if c.Backend == nil {
		errs = append(errs, errors.New("resp: Backend is required"))
	}
	if c.MaxClients < 1 {
		errs = append(errs, fmt.Errorf("resp: MaxClients is %d: must be at least 1", c.MaxClients))
	}
	if c.MaxCommandBytes < 1024 {
		errs = append(errs, fmt.Errorf("resp: MaxCommandBytes is %d: must be at least 1024", c.MaxCommandBytes))
	}
	if c.Conflict != "" && c.Conflict != "lww" && c.Conflict != "siblings" {
		errs = append(errs, fmt.Errorf("resp: Conflict is %q: must be lww or siblings", c.Conflict))
	}
	for _, l := range []replication.Level{c.ReadLevel, c.WriteLevel} {
		if l != replication.One && l != replication.Quorum && l != replication.All {
			errs = append(errs, fmt.Errorf("resp: %v is not a consistency level", l))
		}
	}
	if c.IdleTimeout < 0 || c.CommandTimeout < 0 {
		errs = append(errs, errors.New("resp: timeouts must not be negative"))
	}
	return errors.Join(errs...)
}
