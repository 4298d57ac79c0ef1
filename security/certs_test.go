package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustCreateCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := CreateCA(dir, CertOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func leafOf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := readCerts(path)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func TestCreateCA_filesAndModes(t *testing.T) {
	dir := mustCreateCA(t)
	ca := leafOf(t, filepath.Join(dir, CACertFile))
	if !ca.IsCA || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("CA: IsCA %v, algorithm %v", ca.IsCA, ca.PublicKeyAlgorithm)
	}
	if pk, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pk.Curve != elliptic.P256() {
		t.Fatalf("CA key is not P-256: %T", ca.PublicKey)
	}
	st, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key mode %v, want 0600", st.Mode().Perm())
	}
}

func TestCreate_refusesToOverwrite(t *testing.T) {
	dir := mustCreateCA(t)
	before, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	var ee *ExistsError
	if err := CreateCA(dir, CertOptions{}); !errors.As(err, &ee) || ee.Path != filepath.Join(dir, CACertFile) {
		t.Fatalf("second CreateCA: %v, want ExistsError naming ca.crt", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	if string(before) != string(after) {
		t.Fatal("ca.crt changed")
	}
	if err := CreateNode(dir, "n1", []string{"localhost"}, CertOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := CreateNode(dir, "n1", []string{"localhost"}, CertOptions{}); !errors.As(err, &ee) || !strings.HasSuffix(ee.Path, "node-n1.crt") {
		t.Fatalf("second CreateNode: %v", err)
	}
	if err := CreateGossipKey(dir); err != nil {
		t.Fatal(err)
	}
	if err := CreateGossipKey(dir); !errors.As(err, &ee) || !strings.HasSuffix(ee.Path, GossipKeyFile) {
		t.Fatalf("second CreateGossipKey: %v", err)
	}
}

func TestCreateNode_sansAndIdentity(t *testing.T) {
	dir := mustCreateCA(t)
	if err := CreateNode(dir, "n2", []string{"127.0.0.1", "localhost", "::1", "db.example"}, CertOptions{}); err != nil {
		t.Fatal(err)
	}
	c := leafOf(t, filepath.Join(dir, "node-n2.crt"))
	if len(c.IPAddresses) != 2 || strings.Join(c.DNSNames, ",") != "localhost,db.example" {
		t.Fatalf("SANs: IPs %v DNS %v", c.IPAddresses, c.DNSNames)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "quorumkv://node/n2" {
		t.Fatalf("URIs %v", c.URIs)
	}
	id, err := IdentityOf(c)
	if err != nil || id != (Identity{Node: true, Name: "n2", Role: RoleNode}) {
		t.Fatalf("identity %+v, %v", id, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leafOf(t, filepath.Join(dir, CACertFile)))
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Fatalf("verify for %v: %v", usage, err)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "node-n2.key")); st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode().Perm())
	}
}

func TestCreateClient_roleInURI(t *testing.T) {
	dir := mustCreateCA(t)
	for _, r := range []Role{RoleRead, RoleWrite, RoleAdmin} {
		name := "c-" + r.String()
		if err := CreateClient(dir, name, r, CertOptions{}); err != nil {
			t.Fatal(err)
		}
		c := leafOf(t, filepath.Join(dir, ClientCertFile(name)))
		if want := "quorumkv://client/" + name + "?role=" + r.String(); len(c.URIs) != 1 || c.URIs[0].String() != want {
			t.Fatalf("URIs %v, want %s", c.URIs, want)
		}
		id, err := IdentityOf(c)
		if err != nil || id != (Identity{Name: name, Role: r}) {
			t.Fatalf("identity %+v, %v", id, err)
		}
	}
	if err := CreateClient(dir, "x", RoleNode, CertOptions{}); err == nil {
		t.Fatal("a client certificate with the node role was created")
	}
}

func TestCreateClient_withoutCA(t *testing.T) {
	err := CreateClient(t.TempDir(), "alice", RoleRead, CertOptions{})
	if err == nil || !strings.Contains(err.Error(), "create-ca") {
		t.Fatalf("got %v, want an error pointing at create-ca", err)
	}
}

func TestCertOptions_expired(t *testing.T) {
	dir := mustCreateCA(t)
	past := func() time.Time { return time.Now().Add(-48 * time.Hour) }
	if err := CreateClient(dir, "old", RoleRead, CertOptions{Now: past, Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if c := leafOf(t, filepath.Join(dir, ClientCertFile("old"))); !c.NotAfter.Before(time.Now()) {
		t.Fatalf("NotAfter %v is not past", c.NotAfter)
	}
}

func TestCreateGossipKey(t *testing.T) {
	dir := t.TempDir()
	if err := CreateGossipKey(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, GossipKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	key, err := base64.StdEncoding.DecodeString(lines[0])
	if len(lines) != 1 || err != nil || len(key) != 32 {
		t.Fatalf("gossip.key %q: want one base64 line of 32 bytes", data)
	}
	if st, _ := os.Stat(filepath.Join(dir, GossipKeyFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
}

func TestParseIdentityURI(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want Identity
		ok   bool
	}{
		"node":        {"quorumkv://node/n1", Identity{Node: true, Name: "n1", Role: RoleNode}, true},
		"client":      {"quorumkv://client/alice?role=write", Identity{Name: "alice", Role: RoleWrite}, true},
		"no role":     {"quorumkv://client/alice", Identity{}, false},
		"node role":   {"quorumkv://client/alice?role=node", Identity{}, false},
		"other kind":  {"quorumkv://thing/alice", Identity{}, false},
		"bad scheme":  {"spiffe://node/n1", Identity{}, false},
		"empty name":  {"quorumkv://node/", Identity{}, false},
		"nested name": {"quorumkv://node/a/b", Identity{}, false},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseIdentityURI(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseIdentityURI(%q) = %+v, %v", tc.in, got, err)
			}
		})
	}
}
