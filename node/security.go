package node

import (
	"context"
	"errors"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/security"
)

// With TLS on, a connection lives at most maxConnectionAge (plus
// maxConnectionAgeGrace for the RPCs on it to finish): every connection is
// then made again with a fresh handshake, so a certificate that expired or
// was replaced on disk stops being used by streams that never end (the
// replica transport reopens them).
const (
	maxConnectionAge      = 30 * time.Minute
	maxConnectionAgeGrace = time.Minute
)

// openTLS loads the node's certificate, key and CA when --tls-* are
// given; without them the node serves and dials plain gRPC, and says so
// once.
func (n *node) openTLS() error {
	if n.cfg.TLSCert == "" {
		if err := checkPlainAllowed(n.cfg); err != nil {
			return err
		}
		if n.cfg.Insecure {
			n.log.Warn("TLS is off and --insecure allows plain traffic off loopback: anyone who reaches the node may read and change every key and the membership")
		} else {
			n.log.Info("TLS is off: plain gRPC on loopback, every caller may do everything (give --tls-cert, --tls-key, --tls-ca and --gossip-key-file to require certificates)")
		}
		return nil
	}
	files, err := security.LoadFiles(n.cfg.TLSCert, n.cfg.TLSKey, n.cfg.TLSCA, n.log)
	if err != nil {
		return flagErr("tls-cert", "%v", err)
	}
	id := files.Identity()
	if !id.Node || id.Name != n.cfg.NodeID {
		return flagErr("tls-cert", "%s is the certificate of %s, not of node %s", n.cfg.TLSCert, id, n.cfg.NodeID)
	}
	n.tls = files
	// Join and KeyringApply answer node certificates only: the role check
	// (security.Authorizer) has verified the caller by then.
	n.peerAuth = func(ctx context.Context) error {
		if id, ok := security.IdentityFrom(ctx); !ok || !id.Node {
			return errors.New("the caller presented no node certificate")
		}
		return nil
	}
	n.log.Info("mutual TLS 1.3 on", "cert", n.cfg.TLSCert, "ca", n.cfg.TLSCA, "identity", id.String())
	return nil
}

// peerDialOptions are the dial options of the connections to peers: the
// node's own certificate with TLS on, none (plain) otherwise.
func (n *node) peerDialOptions() []grpc.DialOption {
	if n.tls == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(n.tls.PeerConfig()))}
}

// securityServerOptions are a gRPC server's TLS credentials, connection
// age and role checks with TLS on, none otherwise; unary is the server's
// other unary interceptor, chained before the role check. nodesOnly (the
// peer listener) refuses every certificate but node certificates.
func (n *node) securityServerOptions(unary grpc.UnaryServerInterceptor, nodesOnly bool) []grpc.ServerOption {
	if n.tls == nil {
		return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary)}
	}
	authz := &security.Authorizer{NodeID: n.cfg.NodeID, Log: n.log, NodesOnly: nodesOnly, Removed: func(id string) bool {
		m, ok := n.member(id)
		return ok && m.State == ring.Removed
	}}
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(n.tls.ServerConfig())),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: maxConnectionAge, MaxConnectionAgeGrace: maxConnectionAgeGrace}),
		grpc.ChainUnaryInterceptor(unary, authz.Unary),
		grpc.ChainStreamInterceptor(authz.Stream),
	}
}

// checkPlainAllowed refuses, unless --insecure, to listen without TLS on
// an address other machines may reach.
func checkPlainAllowed(cfg Config) error {
	if cfg.Insecure {
		return nil
	}
	for _, a := range []struct{ flag, addr string }{
		{"grpc-addr", cfg.GRPCAddr}, {"gossip-addr", cfg.GossipAddr}, {"peer-addr", cfg.PeerAddr}, {"resp-addr", cfg.RESPAddr},
	} {
		if a.addr != "" && !isLoopback(a.addr) {
			return flagErr("insecure", "--%s %s is not a loopback address: without TLS anyone who reaches it may read and change every key; give --tls-cert, --tls-key, --tls-ca and --gossip-key-file, or --insecure to allow plain traffic",
				a.flag, a.addr)
		}
	}
	return nil
}

// isLoopback reports whether addr's host is a loopback address or
// localhost.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
