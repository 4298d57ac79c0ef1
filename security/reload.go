package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files is a node's (or client's) certificate, key and CA, read from disk
// at every handshake when one of them changed (by modification time and
// size), so a renewed certificate or CA takes effect without a restart.
// A change that cannot be read (a file half-written) keeps the last good
// set and is logged. Safe for concurrent use.
type Files struct {
	certPath, keyPath, caPath string
	log                       *slog.Logger

	mu    sync.Mutex
	stamp [3]fileStamp
	cur   *loaded
	bad   [3]fileStamp // the stamps last logged as unreadable
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// loaded is one consistent read of the three files.
type loaded struct {
	cert *tls.Certificate
	pool *x509.CertPool
	id   Identity
}

// LoadFiles reads the certificate, key and CA, and checks that the
// certificate names a quorumkv identity and is signed by the CA. log (nil:
// slog.Default) gets the reloads.
func LoadFiles(certPath, keyPath, caPath string, log *slog.Logger) (*Files, error) {
	if log == nil {
		log = slog.Default()
	}
	f := &Files{certPath: certPath, keyPath: keyPath, caPath: caPath, log: log}
	stamp, err := f.stamps()
	if err != nil {
		return nil, err
	}
	cur, err := f.read()
	if err != nil {
		return nil, err
	}
	f.stamp, f.cur = stamp, cur
	return f, nil
}

// Identity returns the identity of the current certificate.
func (f *Files) Identity() Identity { return f.current().id }

func (f *Files) stamps() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, p := range []string{f.certPath, f.keyPath, f.caPath} {
		st, err := os.Stat(p)
		if err != nil {
			return out, err
		}
		out[i] = fileStamp{mod: st.ModTime(), size: st.Size()}
	}
	return out, nil
}

func (f *Files) read() (*loaded, error) {
	pair, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", f.certPath, f.keyPath, err)
	}
	cas, err := readCerts(f.caPath)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", f.certPath, err)
		}
		pair.Leaf = leaf
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("%s is not valid under the CA %s: %w", f.certPath, f.caPath, err)
	}
	id, err := IdentityOf(leaf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.certPath, err)
	}
	return &loaded{cert: &pair, pool: pool, id: id}, nil
}

// current returns the files as they are now, rereading them if they
// changed since the last read.
func (f *Files) current() *loaded {
	f.mu.Lock()
	defer f.mu.Unlock()
	stamp, err := f.stamps()
	if err != nil || stamp == f.stamp {
		if err != nil && f.bad != stamp {
			f.bad = stamp
			f.log.Warn("TLS files unreadable; keeping the last good ones", "err", err)
		}
		return f.cur
	}
	cur, err := f.read()
	if err != nil {
		if f.bad != stamp {
			f.bad = stamp
			f.log.Warn("TLS files changed but cannot be used; keeping the last good ones", "err", err)
		}
		return f.cur
	}
	f.stamp, f.cur = stamp, cur
	f.log.Info("TLS certificate reloaded", "cert", f.certPath, "identity", cur.id.String(), "not_after", cur.cert.Leaf.NotAfter)
	return cur
}

// ServerConfig returns the TLS 1.3 configuration of a listener: it
// presents the current certificate and requires a client certificate
// signed by the current CA.
func (f *Files) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cur := f.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				NextProtos:   []string{"h2"},
				Certificates: []tls.Certificate{*cur.cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    cur.pool,
			}, nil
		},
	}
}

// PeerConfig returns the TLS 1.3 configuration a node dials its peers
// with: it presents the current certificate and accepts only a node
// certificate of the current CA whose names match the address dialed.
func (f *Files) PeerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return f.current().cert, nil
		},
		// The chain is verified in VerifyConnection, against the CA as it
		// is now rather than as it was when the config was built.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := verifyServer(cs, f.current().pool)
			if err != nil {
				return err
			}
			if !id.Node {
				return fmt.Errorf("the peer at %s presents the certificate of %s, not of a node", cs.ServerName, id)
			}
			return nil
		},
	}
}

// verifyServer verifies a server's certificate chain against pool and the
// name dialed, and returns its identity.
func verifyServer(cs tls.ConnectionState, pool *x509.CertPool) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, errors.New("the peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: cs.ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return Identity{}, err
	}
	return IdentityOf(leaf)
}

// ClientConfig returns the TLS 1.3 configuration of a client (kvctl, the Go
// client) from PEM files read once: caPath verifies the server;
// certPath and keyPath, both or neither, are the client's certificate.
func ClientConfig(caPath, certPath, keyPath string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if caPath != "" {
		cas, err := readCerts(caPath)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		for _, c := range cas {
			cfg.RootCAs.AddCert(c)
		}
	}
	switch {
	case certPath != "" && keyPath != "":
		pair, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", certPath, keyPath, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case certPath != "" || keyPath != "":
		return nil, errors.New("a client certificate and its key go together: give both or neither")
	}
	return cfg, nil
}
