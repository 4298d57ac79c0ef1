package security

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// certContext returns an incoming context as from a connection that
// verified cert, with metadata md.
func certContext(cert *x509.Certificate, md ...string) context.Context {
	ctx := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{
		State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}}})
	return metadata.NewIncomingContext(ctx, metadata.Pairs(md...))
}

func TestAuthorizer_authorize(t *testing.T) {
	dir := mustCreateCA(t)
	for _, c := range []struct {
		name string
		role Role
	}{{"reader", RoleRead}, {"writer", RoleWrite}, {"root", RoleAdmin}} {
		if err := CreateClient(dir, c.name, c.role, CertOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := CreateNode(dir, "n1", []string{"127.0.0.1"}, CertOptions{}); err != nil {
		t.Fatal(err)
	}
	reader := leafOf(t, filepath.Join(dir, ClientCertFile("reader")))
	writer := leafOf(t, filepath.Join(dir, ClientCertFile("writer")))
	root := leafOf(t, filepath.Join(dir, ClientCertFile("root")))
	n1 := leafOf(t, filepath.Join(dir, NodeCertFile("n1")))
	if err := CreateNode(dir, "n3", []string{"127.0.0.1"}, CertOptions{}); err != nil {
		t.Fatal(err)
	}
	n3 := leafOf(t, filepath.Join(dir, NodeCertFile("n3")))
	readerURI := "quorumkv://client/reader?role=read"

	for name, tc := range map[string]struct {
		ctx     context.Context
		method  string
		req     any
		code    codes.Code
		msg     string
		auditOK bool
	}{
		"no certificate":                 {peer.NewContext(context.Background(), &peer.Peer{}), "/quorumkv.v1.KV/Get", nil, codes.Unauthenticated, "no verified client certificate", false},
		"reader reads":                   {certContext(reader), "/quorumkv.v1.KV/Get", nil, codes.OK, "", false},
		"reader cannot put":              {certContext(reader), "/quorumkv.v1.KV/Put", nil, codes.PermissionDenied, "put needs the write role; this certificate has read", false},
		"writer cannot repair":           {certContext(writer), "/quorumkv.v1.KV/Repair", nil, codes.PermissionDenied, "repair needs the admin role; this certificate has write", false},
		"admin repairs, audited":         {certContext(root), "/quorumkv.v1.KV/Repair", nil, codes.OK, "", true},
		"writer cannot back up":          {certContext(writer), "/quorumkv.v1.KV/Backup", nil, codes.PermissionDenied, "backup needs the admin role; this certificate has write", false},
		"admin backs up, audited":        {certContext(root), "/quorumkv.v1.KV/Backup", nil, codes.OK, "", true},
		"admin cannot replicate":         {certContext(root), "/quorumkv.v1.Replica/Exchange", nil, codes.PermissionDenied, "needs the node role; this certificate has admin", false},
		"node replicates":                {certContext(n1), "/quorumkv.v1.Replica/Exchange", nil, codes.OK, "", false},
		"node forwards a put":            {certContext(n1, ForwardedByHeader, "n1"), "/quorumkv.v1.KV/Put", nil, codes.OK, "", false},
		"node claims another id":         {certContext(n1, ForwardedByHeader, "n2"), "/quorumkv.v1.KV/Put", nil, codes.PermissionDenied, "cannot speak for node n2", false},
		"join as another id":             {certContext(n1), "/quorumkv.v1.Replica/Join", &pb.JoinRequest{NodeId: "n9"}, codes.PermissionDenied, "cannot speak for node n9", false},
		"join as itself":                 {certContext(n1), "/quorumkv.v1.Replica/Join", &pb.JoinRequest{NodeId: "n1"}, codes.OK, "", false},
		"hand-off ack as another id":     {certContext(n1), "/quorumkv.v1.Replica/HandOffAck", &pb.HandOffAckRequest{NodeId: "n9"}, codes.PermissionDenied, "cannot speak for node n9", false},
		"hand-off ack as itself":         {certContext(n1), "/quorumkv.v1.Replica/HandOffAck", &pb.HandOffAckRequest{NodeId: "n1"}, codes.OK, "", false},
		"forwarded reader cannot put":    {certContext(n1, ForwardedByHeader, "n1", ForwardedIdentityHeader, readerURI), "/quorumkv.v1.KV/Put", nil, codes.PermissionDenied, "put needs the write role; this certificate has read (forwarded by node n1)", false},
		"forwarded reader reads":         {certContext(n1, ForwardedByHeader, "n1", ForwardedIdentityHeader, readerURI), "/quorumkv.v1.KV/Get", nil, codes.OK, "", false},
		"client identity ignored":        {certContext(reader, ForwardedIdentityHeader, "quorumkv://client/x?role=admin"), "/quorumkv.v1.KV/Put", nil, codes.PermissionDenied, "this certificate has read", false},
		"client cannot forward":          {certContext(writer, ForwardedByHeader, "n1"), "/quorumkv.v1.KV/Put", nil, codes.PermissionDenied, "only node certificates may", false},
		"remove audited with target":     {certContext(root), "/quorumkv.v1.KV/Remove", &pb.RemoveRequest{NodeId: "n3"}, codes.OK, "", true},
		"removed node":                   {certContext(n3), "/quorumkv.v1.Replica/Exchange", nil, codes.PermissionDenied, "node n3 was removed from the cluster", false},
		"unknown service":                {certContext(n1), "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", nil, codes.PermissionDenied, "not permitted to any certificate", false},
		"peer listener: admin refused":   {certContext(root), "/quorumkv.v1.KV/Repair", nil, codes.PermissionDenied, "not a node certificate", false},
		"peer listener: reader refused":  {certContext(reader), "/quorumkv.v1.KV/Get", nil, codes.PermissionDenied, "not a node certificate", false},
		"peer listener: node forwards":   {certContext(n1, ForwardedByHeader, "n1", ForwardedIdentityHeader, readerURI), "/quorumkv.v1.KV/Get", nil, codes.OK, "", false},
		"peer listener: node replicates": {certContext(n1), "/quorumkv.v1.Replica/Exchange", nil, codes.OK, "", false},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			a := &Authorizer{NodeID: "n1", Log: slog.New(slog.NewTextHandler(&logs, nil)), Removed: func(id string) bool { return id == "n3" },
				NodesOnly: strings.HasPrefix(name, "peer listener:")}
			_, err := a.authorize(tc.ctx, tc.method, tc.req)
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("got %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			if audited := strings.Contains(logs.String(), "msg=audit"); audited != tc.auditOK {
				t.Fatalf("audited %v, want %v: %s", audited, tc.auditOK, logs.String())
			}
			if strings.Contains(name, "target") && !strings.Contains(logs.String(), "target=n3") {
				t.Fatalf("audit line names no target n3: %s", logs.String())
			}
		})
	}
}

func TestForwardContext_carriesClientIdentity(t *testing.T) {
	ctx := context.WithValue(context.Background(), identityKey{}, Identity{Name: "alice", Role: RoleRead})
	md, _ := metadata.FromOutgoingContext(ForwardContext(ctx, "n2"))
	if got := md.Get(ForwardedByHeader); len(got) != 1 || got[0] != "n2" {
		t.Fatalf("forwarded-by %v", got)
	}
	if got := md.Get(ForwardedIdentityHeader); len(got) != 1 || got[0] != "quorumkv://client/alice?role=read" {
		t.Fatalf("forwarded identity %v", got)
	}
}
