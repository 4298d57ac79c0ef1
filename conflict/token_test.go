package conflict_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
)

var (
	clusterOne = [conflict.ClusterIDSize]byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	clusterTwo = [conflict.ClusterIDSize]byte{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}
	secretOne  = []byte("secret-one-0123456789abcdef")
	secretTwo  = []byte("secret-two-0123456789abcdef")
)

func keyring(tb testing.TB, id [conflict.ClusterIDSize]byte, secret []byte) *conflict.Keyring {
	tb.Helper()
	k, err := conflict.NewKeyring(id, secret)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

var tokenErrors = []error{conflict.ErrTokenMalformed, conflict.ErrTokenForeign, conflict.ErrTokenWrongKey, conflict.ErrTokenTampered}

// tokenError returns the one token error err wraps, failing when it wraps
// none or several.
func tokenError(tb testing.TB, err error) error {
	tb.Helper()
	var found []error
	for _, e := range tokenErrors {
		if errors.Is(err, e) {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("Open error %v wraps %d token errors, want exactly one", err, len(found))
	}
	return found[0]
}

func randomTokenState(rng *rand.Rand) conflict.TokenState {
	return conflict.TokenState{Ctx: randomContext(rng), MaxTS: randomTS(rng)}
}

// Property 11: Seal and Open round-trip.
func TestKeyring_Open_roundTrip(t *testing.T) {
	k := keyring(t, clusterOne, secretOne)
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		for range 20 {
			key := randomBytes(rng, 40)
			st := randomTokenState(rng)
			got, err := k.Open(key, k.Seal(key, st))
			if err != nil {
				t.Fatalf("Open(Seal(%+v)): %v", st, err)
			}
			if got.MaxTS != st.MaxTS || !got.Ctx.Equal(st.Ctx) {
				t.Fatalf("Open(Seal(%+v)) = %+v", st, got)
			}
		}
	})
}

func TestReadToken(t *testing.T) {
	if st := conflict.ReadToken(nil); !st.Ctx.IsEmpty() || !st.MaxTS.IsZero() {
		t.Fatalf("ReadToken(nil) = %+v", st)
	}
	o := put(conflict.Siblings, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
	o.SetAdd(dt(actA, 2), ts(30), values("x"))
	st := conflict.ReadToken(o)
	if !st.Ctx.Equal(o.Reg.Ctx) || st.MaxTS != ts(30) {
		t.Fatalf("ReadToken = %+v", st)
	}
	st.Ctx.VV[0].Counter = 99
	if o.Reg.Ctx.VV[0].Counter != 1 {
		t.Fatalf("ReadToken shares the object's context")
	}
}

// Property 11: each refusal with its error.
func TestKeyring_Open_refuses(t *testing.T) {
	k := keyring(t, clusterOne, secretOne)
	st := conflict.TokenState{Ctx: vv(dt(actA, 3), dt(actB, 1)), MaxTS: ts(1234)}
	key := []byte("key")
	tok := k.Seal(key, st)
	tests := map[string]struct {
		k    *conflict.Keyring
		key  []byte
		tok  []byte
		want error
	}{
		"otherCluster":           {k: keyring(t, clusterTwo, secretTwo), key: key, tok: tok, want: conflict.ErrTokenForeign},
		"otherClusterSameSecret": {k: keyring(t, clusterTwo, secretOne), key: key, tok: tok, want: conflict.ErrTokenForeign},
		"otherKey":               {k: k, key: []byte("other"), tok: tok, want: conflict.ErrTokenWrongKey},
		"emptyKey":               {k: k, key: nil, tok: tok, want: conflict.ErrTokenWrongKey},
		"otherSecret":            {k: keyring(t, clusterOne, secretTwo), key: key, tok: tok, want: conflict.ErrTokenTampered},
		"empty":                  {k: k, key: key, tok: nil, want: conflict.ErrTokenMalformed},
		"badVersion":             {k: k, key: key, tok: append([]byte{2}, tok[1:]...), want: conflict.ErrTokenMalformed},
		"trailingByte":           {k: k, key: key, tok: append(bytes.Clone(tok), 0), want: conflict.ErrTokenMalformed},
		"overMaxTokenBytes":      {k: k, key: key, tok: append(bytes.Clone(tok), make([]byte, conflict.MaxTokenBytes)...), want: conflict.ErrTokenMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.k.Open(tc.key, tc.tok)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			tokenError(t, err)
			if !got.Ctx.IsEmpty() || !got.MaxTS.IsZero() {
				t.Fatalf("a refused token yields %+v", got)
			}
		})
	}
}

// Property 11: any single flipped byte is refused, with the error of the
// field it hits; every truncation is malformed.
func TestKeyring_Open_flippedOrTruncated(t *testing.T) {
	k := keyring(t, clusterOne, secretOne)
	key := []byte("key")
	const head = 1 + conflict.ClusterIDSize + 8
	const macSize = 16
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		tok := k.Seal(key, randomTokenState(rng))
		for i := range tok {
			for _, mask := range []byte{0xff, 1 << rng.IntN(8), byte(1 + rng.IntN(255))} {
				bad := bytes.Clone(tok)
				bad[i] ^= mask
				_, err := k.Open(key, bad)
				if err == nil {
					t.Fatalf("a token with byte %d flipped (^%02x) opened", i, mask)
				}
				got := tokenError(t, err)
				var want []error
				switch {
				case i == 0:
					want = []error{conflict.ErrTokenMalformed}
				case i < 1+conflict.ClusterIDSize:
					want = []error{conflict.ErrTokenForeign}
				case i < head:
					want = []error{conflict.ErrTokenWrongKey}
				case i < len(tok)-macSize:
					want = []error{conflict.ErrTokenMalformed, conflict.ErrTokenTampered}
				default:
					want = []error{conflict.ErrTokenTampered}
				}
				if !errors.Is(err, want[0]) && (len(want) == 1 || !errors.Is(err, want[1])) {
					t.Fatalf("byte %d of %d flipped: %v, want %v", i, len(tok), got, want)
				}
			}
		}
		for n := range len(tok) {
			if _, err := k.Open(key, tok[:n]); !errors.Is(err, conflict.ErrTokenMalformed) {
				t.Fatalf("token truncated to %d of %d bytes: %v, want ErrTokenMalformed", n, len(tok), err)
			}
		}
	})
}

func TestNewKeyring(t *testing.T) {
	if _, err := conflict.NewKeyring(clusterOne, make([]byte, 15)); err == nil {
		t.Fatal("a 15-byte secret was accepted")
	}
	secret := bytes.Clone(secretOne)
	k := keyring(t, clusterOne, secret)
	tok := k.Seal([]byte("k"), conflict.TokenState{MaxTS: conflict.Timestamp{Wall: math.MaxInt64}})
	secret[0] ^= 0xff
	if _, err := k.Open([]byte("k"), tok); err != nil {
		t.Fatalf("the keyring keeps the caller's secret slice: %v", err)
	}
}
