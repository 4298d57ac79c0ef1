package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names in a certificate directory, as kvctl certs writes them.
const (
	CACertFile    = "ca.crt"
	CAKeyFile     = "ca.key"
	GossipKeyFile = "gossip.key"
)

// NodeCertFile and NodeKeyFile name node id's certificate and key.
func NodeCertFile(id string) string { return "node-" + id + ".crt" }

// NodeKeyFile names node id's private key.
func NodeKeyFile(id string) string { return "node-" + id + ".key" }

// ClientCertFile names client name's certificate.
func ClientCertFile(name string) string { return "client-" + name + ".crt" }

// ClientKeyFile names client name's private key.
func ClientKeyFile(name string) string { return "client-" + name + ".key" }

// Default lifetimes, as cockroach cert chooses them.
const (
	DefaultCALifetime   = 10 * 365 * 24 * time.Hour
	DefaultCertLifetime = 5 * 365 * 24 * time.Hour
)

// CertOptions are the knobs of the Create functions. The zero value takes
// the defaults.
type CertOptions struct {
	// Lifetime is how long the certificate is valid from Now; zero means
	// DefaultCALifetime for a CA, DefaultCertLifetime otherwise.
	Lifetime time.Duration
	// Now is the start of validity (less a minute for clock skew); nil
	// means time.Now.
	Now func() time.Time
}

func (o CertOptions) window(def time.Duration) (time.Time, time.Time) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	life := o.Lifetime
	if life <= 0 {
		life = def
	}
	start := now().Add(-time.Minute)
	return start, start.Add(life)
}

// ExistsError is returned when a file to be written exists already: the
// Create functions never overwrite.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s exists already: refusing to overwrite it (remove it first to replace it)", e.Path)
}

// CreateCA writes a new CA certificate and key to dir/ca.crt and
// dir/ca.key, creating dir if needed.
func CreateCA(dir string, o CertOptions) error {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	if err := refuseExisting(certPath, keyPath); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	notBefore, notAfter := o.window(DefaultCALifetime)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "quorumkv CA", Organization: []string{"quorumkv"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return sign(tmpl, key, nil, nil, certPath, keyPath)
}

// CreateNode writes node id's certificate and key, signed by the CA in
// dir, to dir/node-ID.crt and dir/node-ID.key. The certificate serves and
// dials (server and client auth); hosts become its DNS and IP SANs, the id
// its URI SAN quorumkv://node/ID.
func CreateNode(dir, id string, hosts []string, o CertOptions) error {
	if err := CheckName(id); err != nil {
		return fmt.Errorf("node id: %w", err)
	}
	if len(hosts) == 0 {
		return errors.New("a node certificate needs at least one host (--host)")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "node " + id, Organization: []string{"quorumkv"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	tmpl.URIs = append(tmpl.URIs, Identity{Node: true, Name: id, Role: RoleNode}.URI())
	return createLeaf(dir, tmpl, NodeCertFile(id), NodeKeyFile(id), o)
}

// CreateClient writes client name's certificate and key with role, signed
// by the CA in dir, to dir/client-NAME.crt and dir/client-NAME.key. The
// role rides in its URI SAN quorumkv://client/NAME?role=ROLE.
func CreateClient(dir, name string, role Role, o CertOptions) error {
	if err := CheckName(name); err != nil {
		return fmt.Errorf("client name: %w", err)
	}
	if role < RoleRead || role > RoleAdmin {
		return fmt.Errorf("%s is not a client role: use read, write or admin", role)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"quorumkv"}, OrganizationalUnit: []string{role.String()}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{Identity{Name: name, Role: role}.URI()},
	}
	return createLeaf(dir, tmpl, ClientCertFile(name), ClientKeyFile(name), o)
}

// CreateGossipKey writes dir/gossip.key: one random 32-byte key, base64,
// on one line (the file holds one key per line, the first primary).
func CreateGossipKey(dir string) error {
	path := filepath.Join(dir, GossipKeyFile)
	if err := refuseExisting(path); err != nil {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeNew(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
}

func createLeaf(dir string, tmpl *x509.Certificate, certName, keyName string, o CertOptions) error {
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	if err := refuseExisting(certPath, keyPath); err != nil {
		return err
	}
	ca, caKey, err := loadCA(dir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.NotBefore, tmpl.NotAfter = o.window(DefaultCertLifetime)
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	return sign(tmpl, key, ca, caKey, certPath, keyPath)
}

// sign issues tmpl for key, signed by parent's parentKey (self-signed when
// parent is nil), and writes the certificate and key.
func sign(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, certPath, keyPath string) error {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return err
	}
	// The key first: a certificate without its key is useless, a key
	// without its certificate is refused at the next try, naming it.
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// loadCA reads the CA certificate and key of dir.
func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certs, err := readCerts(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("the CA (create it with kvctl certs create-ca): %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("the CA key (create it with kvctl certs create-ca): %w", err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, nil, fmt.Errorf("%s: no PEM block", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an ECDSA key", keyPath)
	}
	return certs[0], key, nil
}

// readCerts reads every certificate of a PEM file.
func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no certificate in it", path)
	}
	return out, nil
}

func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return &ExistsError{Path: p}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return &ExistsError{Path: path}
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
