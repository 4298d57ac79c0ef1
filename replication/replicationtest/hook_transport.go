package replicationtest

import (
	"context"
	"sync/atomic"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
)

// TransportHook intercepts an operation of a HookTransport: op is "apply"
// or "read", peer its target, and next performs it on the wrapped
// transport. The hook decides whether, when and with which context next
// runs, and returns the operation's error: next's, or one of its own (then
// the operation fails with it and returns no object). It runs on the
// caller's goroutine and may block, honouring ctx. It must not keep key.
type TransportHook func(ctx context.Context, op, peer string, key []byte, next func(ctx context.Context) error) error

// HookTransport wraps a replication.Transport so a test can delay, fail or
// order the requests of one node, or watch them: the fault injection seam
// on the sender's side (the InmemNetwork's faults are per link, not per
// operation). Without a hook it forwards every call unchanged. Safe for
// concurrent use.
type HookTransport struct {
	inner replication.Transport
	hook  atomic.Pointer[TransportHook]
}

var _ replication.Transport = (*HookTransport)(nil)

// NewHookTransport returns t wrapped, without a hook. Closing the
// HookTransport closes t.
func NewHookTransport(t replication.Transport) *HookTransport { return &HookTransport{inner: t} }

// SetHook makes every later operation go through hook; nil removes it.
func (t *HookTransport) SetHook(hook TransportHook) {
	if hook == nil {
		t.hook.Store(nil)
		return
	}
	t.hook.Store(&hook)
}

// Apply implements replication.Transport.
func (t *HookTransport) Apply(ctx context.Context, peer string, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error) {
	h := t.hook.Load()
	if h == nil {
		return t.inner.Apply(ctx, peer, key, obj, hint)
	}
	var out *conflict.Object
	err := (*h)(ctx, "apply", peer, key, func(ctx context.Context) error {
		o, err := t.inner.Apply(ctx, peer, key, obj, hint)
		out = o
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Read implements replication.Transport.
func (t *HookTransport) Read(ctx context.Context, peer string, key []byte) (*conflict.Object, bool, error) {
	h := t.hook.Load()
	if h == nil {
		return t.inner.Read(ctx, peer, key)
	}
	var (
		out   *conflict.Object
		found bool
	)
	err := (*h)(ctx, "read", peer, key, func(ctx context.Context) error {
		o, ok, err := t.inner.Read(ctx, peer, key)
		out, found = o, ok
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, found, nil
}

// Close implements replication.Transport: it closes the wrapped transport.
func (t *HookTransport) Close() error { return t.inner.Close() }
