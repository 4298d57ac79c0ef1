package security

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Metadata a node adds to a client request it forwards to a replica.
const (
	// ForwardedByHeader names the forwarding node: a claim of identity,
	// so it must equal the id of the node certificate that sends it.
	ForwardedByHeader = "quorumkv-forwarded-by"
	// ForwardedIdentityHeader carries the identity URI of the client whose
	// request a node forwards; it is honoured only from a node
	// certificate, and the request is then judged by the client's role.
	ForwardedIdentityHeader = "quorumkv-forwarded-identity"
)

// claimsNodeID lists the RPCs whose request's node_id is the caller's own
// id, which must be the id of its node certificate.
var claimsNodeID = map[string]bool{"/" + replicaService + "/Join": true, "/" + replicaService + "/HandOffAck": true}

// Authorizer enforces roles on a gRPC server whose listener requires
// mutual TLS: every RPC is judged by the role of the verified client
// certificate (deny by default), admin RPCs are audited. Install Unary and
// Stream as the server's first interceptors.
type Authorizer struct {
	// NodeID is the local node's id, the target of audited operations
	// that name none.
	NodeID string
	// Log receives the audit lines and nothing else; nil: slog.Default.
	Log *slog.Logger
	// Now is the clock certificates' expiry is judged by; nil: time.Now.
	Now func() time.Time
	// Removed reports whether a node id was removed from the cluster: its
	// certificate is refused. Nil: no id is.
	Removed func(nodeID string) bool
	// NodesOnly refuses every connection whose certificate is not a node
	// certificate, whatever the RPC (a node's peer listener); the role
	// rules then apply as usual, to the client a node forwards for too.
	NodesOnly bool
}

type identityKey struct{}

// IdentityFrom returns the identity an Authorizer verified for the RPC of
// ctx: the client's for a request a node forwarded.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// WithIdentity returns ctx carrying id as the verified identity of its
// request, for a listener that verified it itself (the RESP listener):
// IdentityFrom returns it and ForwardContext forwards it.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// ForwardContext returns the outgoing context of a client request that
// the node serving ctx forwards as node nodeID: it names the forwarding
// node and carries the verified client identity, if any, so forwarding
// never widens a role.
func ForwardContext(ctx context.Context, nodeID string) context.Context {
	kv := []string{ForwardedByHeader, nodeID}
	if id, ok := IdentityFrom(ctx); ok && !id.Node {
		kv = append(kv, ForwardedIdentityHeader, id.URI().String())
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// Unary is the unary server interceptor.
func (a *Authorizer) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	id, err := a.authorize(ctx, info.FullMethod, req)
	if err != nil {
		return nil, err
	}
	return handler(context.WithValue(ctx, identityKey{}, id), req)
}

// Stream is the stream server interceptor.
func (a *Authorizer) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	id, err := a.authorize(ss.Context(), info.FullMethod, nil)
	if err != nil {
		return err
	}
	return handler(srv, &identityStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), identityKey{}, id)})
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

// PeerIdentity returns the identity of the verified certificate of the
// connection of ctx.
func PeerIdentity(ctx context.Context, now time.Time) (Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Identity{}, status.Error(codes.Unauthenticated, "no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return Identity{}, status.Error(codes.Unauthenticated, errNoClientCert.Error())
	}
	id, err := ConnIdentity(info.State, now)
	switch {
	case errors.Is(err, errNoClientCert), errors.As(err, new(certExpiredError)):
		return Identity{}, status.Error(codes.Unauthenticated, err.Error())
	case err != nil:
		return Identity{}, status.Error(codes.PermissionDenied, err.Error())
	}
	return id, nil
}

var errNoClientCert = errors.New("no verified client certificate: connect with a certificate of the cluster's CA (--cacert, --cert, --key)")

// certExpiredError refuses a client certificate past its NotAfter.
type certExpiredError struct{ notAfter time.Time }

func (e certExpiredError) Error() string {
	return "the client certificate expired at " + e.notAfter.UTC().Format(time.RFC3339)
}

// ConnIdentity returns the identity of the verified client certificate
// of a TLS connection (a server whose config requires and verifies
// client certificates), judged at now: the gRPC listeners and the RESP
// listener alike.
func ConnIdentity(cs tls.ConnectionState, now time.Time) (Identity, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, errNoClientCert
	}
	leaf := cs.VerifiedChains[0][0]
	if now.After(leaf.NotAfter) {
		return Identity{}, certExpiredError{leaf.NotAfter}
	}
	return IdentityOf(leaf)
}

// authorize returns the identity fullMethod runs as, or the
// PermissionDenied (Unauthenticated) status that refuses it.
func (a *Authorizer) authorize(ctx context.Context, fullMethod string, req any) (Identity, error) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	conn, err := PeerIdentity(ctx, now())
	if err != nil {
		return Identity{}, err
	}
	if a.NodesOnly && !conn.Node {
		return Identity{}, status.Errorf(codes.PermissionDenied, "%s is not a node certificate: this listener serves other nodes only (connect to the client address)", conn)
	}
	if conn.Node && a.Removed != nil && a.Removed(conn.Name) {
		return Identity{}, status.Errorf(codes.PermissionDenied, "node %s was removed from the cluster: its certificate is refused", conn.Name)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	id, err := effectiveIdentity(conn, md)
	if err != nil {
		return Identity{}, err
	}
	if claimsNodeID[fullMethod] {
		if c, ok := req.(interface{ GetNodeId() string }); ok && conn.Node && c.GetNodeId() != conn.Name {
			return Identity{}, status.Errorf(codes.PermissionDenied, "the certificate of node %s cannot speak for node %s", conn.Name, c.GetNodeId())
		}
	}
	need, command, ok := Rule(fullMethod)
	if !ok {
		return Identity{}, status.Errorf(codes.PermissionDenied, "%s is not permitted to any certificate", fullMethod)
	}
	if !Allowed(id.Role, need) {
		via := ""
		if id != conn {
			via = " (forwarded by " + conn.String() + ")"
		}
		return Identity{}, status.Errorf(codes.PermissionDenied, "%s needs the %s role; this certificate has %s%s", command, need, id.Role, via)
	}
	if need == RoleAdmin {
		a.audit(id, conn, command, req)
	}
	return id, nil
}

// effectiveIdentity returns the identity a request runs as: the
// connection's, or for a request a node forwards, the client's it names.
func effectiveIdentity(conn Identity, md metadata.MD) (Identity, error) {
	by := md.Get(ForwardedByHeader)
	fwd := md.Get(ForwardedIdentityHeader)
	if !conn.Node {
		if len(by) > 0 {
			return Identity{}, status.Errorf(codes.PermissionDenied, "%s cannot forward requests: only node certificates may", conn)
		}
		return conn, nil // a client's own claims are not honoured
	}
	if len(by) > 0 && by[0] != conn.Name {
		return Identity{}, status.Errorf(codes.PermissionDenied, "the certificate of node %s cannot speak for node %s", conn.Name, by[0])
	}
	if len(fwd) == 0 {
		return conn, nil
	}
	id, err := ParseIdentityURI(fwd[0])
	if err != nil || id.Node {
		return Identity{}, status.Errorf(codes.PermissionDenied, "node %s forwarded a request with a bad client identity %q", conn.Name, fwd[0])
	}
	return id, nil
}

// audit logs an admin operation: who, what, on which node.
func (a *Authorizer) audit(id, conn Identity, command string, req any) {
	log := a.Log
	if log == nil {
		log = slog.Default()
	}
	target := a.NodeID
	if t, ok := req.(interface{ GetNodeId() string }); ok && t.GetNodeId() != "" {
		target = t.GetNodeId()
	}
	attrs := []any{"identity", id.String(), "command", command, "target", target}
	if id != conn {
		attrs = append(attrs, "via", conn.String())
	}
	log.Info("audit", attrs...)
}
