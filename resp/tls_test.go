package resp

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quorumkv/quorumkv/security"
)

// With TLS, a connection needs a client certificate of the CA; each
// command is judged by the certificate's role (read for reads, write for
// writes), and a role without the right gets -NOPERM.
func TestServer_tlsRoles(t *testing.T) {
	dir := t.TempDir()
	if err := security.CreateCA(dir, security.CertOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := security.CreateNode(dir, "n1", []string{"127.0.0.1"}, security.CertOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, role := range map[string]security.Role{"reader": security.RoleRead, "writer": security.RoleWrite} {
		if err := security.CreateClient(dir, name, role, security.CertOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ca := filepath.Join(dir, security.CACertFile)
	files, err := security.LoadFiles(filepath.Join(dir, security.NodeCertFile("n1")), filepath.Join(dir, security.NodeKeyFile("n1")), ca,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serve(t, Config{ReadLevel: 2, WriteLevel: 2, MaxClients: 10, TLS: files.ServerConfig()})
	client := func(name string) *redis.Client {
		var cfg *tls.Config
		if name == "" {
			cfg, err = security.ClientConfig(ca, "", "")
		} else {
			cfg, err = security.ClientConfig(ca, filepath.Join(dir, security.ClientCertFile(name)), filepath.Join(dir, security.ClientKeyFile(name)))
		}
		if err != nil {
			t.Fatal(err)
		}
		cfg.ServerName = "127.0.0.1"
		rc := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: cfg, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
			DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
		t.Cleanup(func() { _ = rc.Close() })
		return rc
	}
	ctx := context.Background()
	writer, reader := client("writer"), client("reader")
	if err := writer.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET with a write certificate: %v", err)
	}
	if v, err := reader.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET with a read certificate: %q, %v", v, err)
	}
	err = reader.Set(ctx, "k", "w", 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "NOPERM 'set' needs the write role; this certificate (client reader (read)) has read") {
		t.Fatalf("SET with a read certificate: %v, want -NOPERM", err)
	}
	if err := reader.SAdd(ctx, "s", "m").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("SADD with a read certificate: %v, want -NOPERM", err)
	}
	if info, err := reader.ClientInfo(ctx).Result(); err != nil || info.User != "client_reader_(read)" {
		t.Fatalf("CLIENT INFO with a read certificate: %+v, %v", info, err)
	}
	if err := client("").Ping(ctx).Err(); err == nil {
		t.Fatal("PING without a client certificate succeeded")
	}
}
