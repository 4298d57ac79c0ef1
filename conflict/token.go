package conflict

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Token errors. Open wraps exactly one of them.
var (
	ErrTokenMalformed = errors.New("context token is malformed")
	ErrTokenForeign   = errors.New("context token is from another cluster")
	ErrTokenWrongKey  = errors.New("context token was issued for another key")
	ErrTokenTampered  = errors.New("context token failed authentication (tampered or issued with another secret)")
)

// MaxTokenBytes is the largest context token accepted: a version vector
// of thousands of actors fits. Open refuses a larger one as malformed; a
// node's client listener bounds its messages with it.
const MaxTokenBytes = 64 << 10

const (
	tokenVersion = 1
	tokenMACSize = 16
	// ClusterIDSize is the length of a cluster id in bytes.
	ClusterIDSize = 16
)

// Keyring seals and opens context tokens for one cluster. Tokens are opaque
// to clients: they carry the causal context of a read and the largest
// timestamp it saw, bound to the cluster and the key, authenticated with
// HMAC-SHA-256 under the cluster secret.
type Keyring struct {
	clusterID [ClusterIDSize]byte
	secret    []byte
}

// NewKeyring returns a keyring for the cluster; secret must be at least 16
// bytes.
func NewKeyring(clusterID [ClusterIDSize]byte, secret []byte) (*Keyring, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("cluster secret is %d bytes: need at least 16", len(secret))
	}
	return &Keyring{clusterID: clusterID, secret: append([]byte(nil), secret...)}, nil
}

// TokenState is what a token carries.
type TokenState struct {
	// Ctx is the register context of the read.
	Ctx Context
	// MaxTS is the largest timestamp the read saw; a write with the token is
	// stamped above it.
	MaxTS Timestamp
}

func keyTag(key []byte) []byte {
	h := sha256.Sum256(key)
	return h[:8]
}

// Seal returns a token for key carrying st.
func (k *Keyring) Seal(key []byte, st TokenState) []byte {
	b := make([]byte, 0, 64)
	b = append(b, tokenVersion)
	b = append(b, k.clusterID[:]...)
	b = append(b, keyTag(key)...)
	b = appendTS(b, st.MaxTS)
	b = appendContext(b, st.Ctx)
	return append(b, k.mac(b)...)
}

func (k *Keyring) mac(b []byte) []byte {
	m := hmac.New(sha256.New, k.secret)
	m.Write(b)
	return m.Sum(nil)[:tokenMACSize]
}

// Open checks a token for key and returns what it carries. It refuses a
// token that is malformed, from another cluster, for another key, or not
// authenticated by this cluster's secret, each with its own error.
func (k *Keyring) Open(key, token []byte) (TokenState, error) {
	const head = 1 + ClusterIDSize + 8
	if len(token) > MaxTokenBytes {
		return TokenState{}, fmt.Errorf("%w: it is %d bytes, the limit is %d", ErrTokenMalformed, len(token), MaxTokenBytes)
	}
	if len(token) < head+tokenMACSize || token[0] != tokenVersion {
		return TokenState{}, ErrTokenMalformed
	}
	body, mac := token[:len(token)-tokenMACSize], token[len(token)-tokenMACSize:]
	// Parse first, so that a truncated token reads as malformed rather
	// than tampered; nothing parsed is trusted before the MAC check.
	d := decoder{buf: append([]byte(nil), body[head:]...)}
	st := TokenState{MaxTS: d.ts()}
	st.Ctx = d.context()
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return TokenState{}, fmt.Errorf("%w: %w", ErrTokenMalformed, d.err)
	}
	if !hmac.Equal(mac, k.mac(body)) {
		// Say why when the clear fields explain it; they are not trusted
		// beyond choosing the message.
		switch {
		case string(body[1:1+ClusterIDSize]) != string(k.clusterID[:]):
			return TokenState{}, ErrTokenForeign
		case string(body[1+ClusterIDSize:head]) != string(keyTag(key)):
			return TokenState{}, ErrTokenWrongKey
		}
		return TokenState{}, ErrTokenTampered
	}
	// Authenticated: the token is bound to a cluster (another cluster may
	// share the secret) and a key.
	if string(body[1:1+ClusterIDSize]) != string(k.clusterID[:]) {
		return TokenState{}, ErrTokenForeign
	}
	if string(body[1+ClusterIDSize:head]) != string(keyTag(key)) {
		return TokenState{}, ErrTokenWrongKey
	}
	return st, nil
}

// ReadToken returns the token state of a read that returned o: its register
// context and largest timestamp.
func ReadToken(o *Object) TokenState {
	if o == nil {
		return TokenState{}
	}
	return TokenState{Ctx: o.Reg.Ctx.Clone(), MaxTS: o.MaxTimestamp()}
}
