package node

import (
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

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
		n.log.Warn("TLS is off: gRPC is plain and every caller may do everything (give --tls-cert, --tls-key and --tls-ca to require certificates)",
			"grpc_addr", n.cfg.GRPCAddr, "loopback", isLoopback(n.cfg.GRPCAddr))
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

// securityServerOptions are the gRPC server's TLS credentials, connection
// age and role checks with TLS on, none otherwise; unary is the server's
// other unary interceptor, chained before the role check.
func (n *node) securityServerOptions(unary grpc.UnaryServerInterceptor) []grpc.ServerOption {
	if n.tls == nil {
		return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary)}
	}
	authz := &security.Authorizer{NodeID: n.cfg.NodeID, Log: n.log}
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(n.tls.ServerConfig())),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: maxConnectionAge, MaxConnectionAgeGrace: maxConnectionAgeGrace}),
		grpc.ChainUnaryInterceptor(unary, authz.Unary),
		grpc.ChainStreamInterceptor(authz.Stream),
	}
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
