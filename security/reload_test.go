package security

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFiles_reloadWhenChanged(t *testing.T) {
	dir := mustCreateCA(t)
	if err := CreateNode(dir, "n1", []string{"127.0.0.1"}, CertOptions{}); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, NodeCertFile("n1")), filepath.Join(dir, NodeKeyFile("n1"))
	var logs bytes.Buffer
	f, err := LoadFiles(certPath, keyPath, filepath.Join(dir, CACertFile), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	served := func() []byte {
		cfg, err := f.ServerConfig().GetConfigForClient(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.MinVersion != tls.VersionTLS13 {
			t.Fatalf("client auth %v, min version %x", cfg.ClientAuth, cfg.MinVersion)
		}
		return cfg.Certificates[0].Certificate[0]
	}
	first := served()
	if !bytes.Equal(served(), first) {
		t.Fatal("the certificate changed without a change on disk")
	}

	// A half-written change keeps the last good certificate.
	if err := os.WriteFile(certPath, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served(), first) {
		t.Fatal("an unreadable certificate replaced the good one")
	}
	if !strings.Contains(logs.String(), "cannot be used") {
		t.Fatalf("no warning logged: %s", logs.String())
	}

	// A renewed certificate is served from the next handshake on.
	for _, p := range []string{certPath, keyPath} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := CreateNode(dir, "n1", []string{"127.0.0.1"}, CertOptions{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(served(), first) {
		t.Fatal("the renewed certificate is not served")
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Fatalf("no reload logged: %s", logs.String())
	}
}

func TestLoadFiles_refusesForeignCertificate(t *testing.T) {
	dir, other := mustCreateCA(t), mustCreateCA(t)
	if err := CreateNode(other, "n1", []string{"127.0.0.1"}, CertOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFiles(filepath.Join(other, NodeCertFile("n1")), filepath.Join(other, NodeKeyFile("n1")), filepath.Join(dir, CACertFile), nil)
	if err == nil || !strings.Contains(err.Error(), "is not valid under the CA") {
		t.Fatalf("got %v", err)
	}
}
