package security

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"regexp"
)

// Role is what a certificate may do. Roles are ordered: each includes the
// rights of those below it.
type Role int

// The roles, in order. RoleNone is no role at all.
const (
	RoleNone Role = iota
	RoleRead
	RoleWrite
	RoleAdmin
	RoleNode
)

// String returns the role's name as certificates and messages spell it.
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	case RoleNode:
		return "node"
	}
	return "none"
}

// ParseClientRole parses a client certificate's role: read, write or
// admin (node is not a client role).
func ParseClientRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("%q is not a client role: use read, write or admin", s)
}

// uriScheme is the scheme of the URI SANs that carry identities.
const uriScheme = "quorumkv"

// namePattern is what node ids and client names may be.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// NameError is a node id or client name a certificate cannot carry.
type NameError struct{ Name string }

func (e *NameError) Error() string {
	return fmt.Sprintf("%q is not a name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", e.Name)
}

// CheckName returns a *NameError unless s may name a node or client in a
// certificate.
func CheckName(s string) error {
	if !namePattern.MatchString(s) {
		return &NameError{Name: s}
	}
	return nil
}

// Identity is who a verified certificate names.
type Identity struct {
	// Node is true for a node certificate, whose Name is the node id.
	Node bool
	// Name is the node id or the client name.
	Name string
	// Role is RoleNode for a node, the certificate's role for a client.
	Role Role
}

// ErrNoIdentity is returned for a certificate that carries no quorumkv
// identity URI.
var ErrNoIdentity = errors.New("the certificate names no quorumkv node or client (no quorumkv:// URI SAN)")

// String describes the identity for messages and audit lines:
// "node n1", "client alice (write)".
func (id Identity) String() string {
	if id.Node {
		return "node " + id.Name
	}
	return fmt.Sprintf("client %s (%s)", id.Name, id.Role)
}

// URI returns the identity's URI SAN: quorumkv://node/ID or
// quorumkv://client/NAME?role=ROLE.
func (id Identity) URI() *url.URL {
	if id.Node {
		return &url.URL{Scheme: uriScheme, Host: "node", Path: "/" + id.Name}
	}
	return &url.URL{Scheme: uriScheme, Host: "client", Path: "/" + id.Name, RawQuery: "role=" + id.Role.String()}
}

// ParseIdentityURI parses an identity URI as URI returns it.
func ParseIdentityURI(s string) (Identity, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Identity{}, fmt.Errorf("identity %q: %w", s, err)
	}
	return identityFromURL(u)
}

func identityFromURL(u *url.URL) (Identity, error) {
	if u.Scheme != uriScheme {
		return Identity{}, fmt.Errorf("identity %q: scheme is not %s", u, uriScheme)
	}
	name := ""
	if len(u.Path) > 1 {
		name = u.Path[1:]
	}
	if err := CheckName(name); err != nil {
		return Identity{}, fmt.Errorf("identity %q: %w", u, err)
	}
	switch u.Host {
	case "node":
		return Identity{Node: true, Name: name, Role: RoleNode}, nil
	case "client":
		role, err := ParseClientRole(u.Query().Get("role"))
		if err != nil {
			return Identity{}, fmt.Errorf("identity %q: %w", u, err)
		}
		return Identity{Name: name, Role: role}, nil
	}
	return Identity{}, fmt.Errorf("identity %q: neither a node nor a client", u)
}

// IdentityOf returns the identity a certificate names in its quorumkv URI
// SAN. It does not verify the certificate: call it on a verified one.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	for _, u := range cert.URIs {
		if u.Scheme == uriScheme {
			return identityFromURL(u)
		}
	}
	return Identity{}, ErrNoIdentity
}
