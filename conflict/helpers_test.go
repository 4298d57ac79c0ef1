package conflict_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
)

// memLeaseStore is an in-memory LeaseStore. failWith, when set, makes
// SaveLease fail without storing.
type memLeaseStore struct {
	mu       sync.Mutex
	lease    conflict.Lease
	ok       bool
	saves    int
	failWith error
}

var _ conflict.LeaseStore = (*memLeaseStore)(nil)

func (s *memLeaseStore) LoadLease() (conflict.Lease, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lease, s.ok, nil
}

func (s *memLeaseStore) SaveLease(l conflict.Lease) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != nil {
		return s.failWith
	}
	s.lease, s.ok = l, true
	s.saves++
	return nil
}

func (s *memLeaseStore) get() conflict.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lease
}

func (s *memLeaseStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = err
}

// actorReader is an io.Reader for OpenDotIssuer and RenewActor that yields
// the given actor ids, 8 big-endian bytes each, then fails.
type actorReader struct{ ids []uint64 }

var errNoMoreActors = errors.New("actorReader: no more actor ids")

func (r *actorReader) Read(p []byte) (int, error) {
	if len(r.ids) == 0 {
		return 0, errNoMoreActors
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], r.ids[0])
	if len(p) < 8 {
		return 0, errors.New("actorReader: short buffer")
	}
	r.ids = r.ids[1:]
	return copy(p, b[:]), nil
}

func actors(ids ...uint64) *actorReader { return &actorReader{ids: ids} }

// funcReader is an io.Reader drawing 8 bytes at a time from next.
type funcReader func() uint64

func (f funcReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], f())
		n += copy(p[n:], b[:])
	}
	return n, nil
}

const (
	actA conflict.ActorID = 0xa
	actB conflict.ActorID = 0xb
	actC conflict.ActorID = 0xc
)

func dt(a conflict.ActorID, c uint64) conflict.Dot { return conflict.Dot{Actor: a, Counter: c} }
func ts(wall int64) conflict.Timestamp             { return conflict.Timestamp{Wall: wall} }

func vv(dots ...conflict.Dot) conflict.Context {
	return conflict.Context{VV: conflict.VersionVector(dots)}
}

func values(vs ...string) [][]byte {
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = []byte(v)
	}
	return out
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func sameStrings(got [][]byte, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if string(got[i]) != want[i] {
			return false
		}
	}
	return true
}

// dump renders an object for failure messages.
func dump(o *conflict.Object) string {
	if o == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString("reg{")
	for i, s := range o.Reg.Siblings {
		if i > 0 {
			b.WriteString(" ")
		}
		if s.Tombstone {
			fmt.Fprintf(&b, "%v@%v:⊥", s.Dot, s.TS)
		} else {
			fmt.Fprintf(&b, "%v@%v:%q", s.Dot, s.TS, s.Value)
		}
	}
	fmt.Fprintf(&b, " | ctx %s} set{", dumpCtx(o.Reg.Ctx))
	for i, m := range o.Set.Members {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%q:", m.Value)
		for _, st := range m.Stamps {
			fmt.Fprintf(&b, "[%v@%v]", st.Dot, st.TS)
		}
	}
	fmt.Fprintf(&b, " | ctx %s}", dumpCtx(o.Set.Ctx))
	return b.String()
}

func dumpCtx(c conflict.Context) string {
	var b strings.Builder
	b.WriteString("vv[")
	for i, d := range c.VV {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(d.String())
	}
	b.WriteString("]")
	if len(c.Cloud) > 0 {
		fmt.Fprintf(&b, " cloud%v", c.Cloud)
	}
	return b.String()
}

// requireSameBytes fails unless a and b marshal to the same bytes.
func requireSameBytes(tb testing.TB, what string, a, b *conflict.Object) {
	tb.Helper()
	if !bytes.Equal(a.Marshal(), b.Marshal()) {
		tb.Fatalf("%s: objects differ\n  %s\n  %s", what, dump(a), dump(b))
	}
}

// merged folds Merge over objs from the left.
func merged(p conflict.Policy, objs ...*conflict.Object) *conflict.Object {
	out := &conflict.Object{}
	for _, o := range objs {
		out = conflict.Merge(p, out, o)
	}
	return out
}

var policies = []conflict.Policy{conflict.LWW, conflict.Siblings}
