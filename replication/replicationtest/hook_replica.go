package replicationtest

import (
	"context"
	"sync/atomic"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
)

// ReplicaHook is called by a HookReplica before each operation, with op
// "apply" or "read". An error fails the operation (returned as is, so a
// transport carries it to the caller as a *replication.RemoteError); the
// hook may block, honouring ctx, to make a slow replica.
type ReplicaHook func(ctx context.Context, op string, key []byte) error

// HookReplica wraps a replication.Replica (a node's LocalReplica, say) so a
// test can fail or slow down the operations its peers send it: the fault
// injection seam on the replica side of the transport. Without a hook it
// forwards every call unchanged. Safe for concurrent use.
type HookReplica struct {
	inner replication.Replica
	hook  atomic.Pointer[ReplicaHook]
}

var _ replication.Replica = (*HookReplica)(nil)

// NewHookReplica returns r wrapped, without a hook.
func NewHookReplica(r replication.Replica) *HookReplica { return &HookReplica{inner: r} }

// SetHook makes every later operation call hook first; nil removes it.
func (r *HookReplica) SetHook(hook ReplicaHook) {
	if hook == nil {
		r.hook.Store(nil)
		return
	}
	r.hook.Store(&hook)
}

func (r *HookReplica) run(ctx context.Context, op string, key []byte) error {
	if h := r.hook.Load(); h != nil {
		return (*h)(ctx, op, key)
	}
	return nil
}

// ApplyReplica implements replication.Replica.
func (r *HookReplica) ApplyReplica(ctx context.Context, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error) {
	if err := r.run(ctx, "apply", key); err != nil {
		return nil, err
	}
	return r.inner.ApplyReplica(ctx, key, obj, hint)
}

// ReadReplica implements replication.Replica.
func (r *HookReplica) ReadReplica(ctx context.Context, key []byte) (*conflict.Object, bool, error) {
	if err := r.run(ctx, "read", key); err != nil {
		return nil, false, err
	}
	return r.inner.ReadReplica(ctx, key)
}
