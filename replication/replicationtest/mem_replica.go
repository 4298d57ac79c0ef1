package replicationtest

import (
	"context"
	"sync"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
)

// MemReplica is an in-memory replication.Replica: it merges what it is sent
// into a map under a conflict policy. It checks neither clocks nor types;
// a hook makes it fail or block chosen operations. Safe for concurrent use.
type MemReplica struct {
	policy conflict.Policy

	mu      sync.Mutex
	objs    map[string]*conflict.Object
	applies int
	hints   int
	reads   int
	hook    func(ctx context.Context, op string, key []byte) error
}

var _ replication.Replica = (*MemReplica)(nil)

// NewMemReplica returns an empty replica merging under policy.
func NewMemReplica(policy conflict.Policy) *MemReplica {
	return &MemReplica{policy: policy, objs: map[string]*conflict.Object{}}
}

// SetHook makes every later operation call hook first, with op "apply" or
// "read", outside the replica's lock; an error from it fails the operation
// (returned as is), and it may block (honouring ctx) to make a slow
// replica. Nil removes the hook.
func (r *MemReplica) SetHook(hook func(ctx context.Context, op string, key []byte) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hook = hook
}

func (r *MemReplica) runHook(ctx context.Context, op string, key []byte) error {
	r.mu.Lock()
	hook := r.hook
	r.mu.Unlock()
	if hook == nil {
		return nil
	}
	return hook(ctx, op, key)
}

// ApplyReplica implements replication.Replica.
func (r *MemReplica) ApplyReplica(ctx context.Context, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error) {
	if err := r.runHook(ctx, "apply", key); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	merged := obj.Clone()
	if cur, ok := r.objs[string(key)]; ok {
		merged = conflict.Merge(r.policy, cur, obj).Clone()
	}
	r.objs[string(key)] = merged
	r.applies++
	if hint {
		r.hints++
	}
	return merged.Clone(), nil
}

// ReadReplica implements replication.Replica.
func (r *MemReplica) ReadReplica(ctx context.Context, key []byte) (*conflict.Object, bool, error) {
	if err := r.runHook(ctx, "read", key); err != nil {
		return nil, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	o, ok := r.objs[string(key)]
	if !ok {
		return nil, false, nil
	}
	return o.Clone(), true, nil
}

// Object returns a copy of the object held for key.
func (r *MemReplica) Object(key []byte) (*conflict.Object, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.objs[string(key)]
	if !ok {
		return nil, false
	}
	return o.Clone(), true
}

// Store puts a copy of obj under key, replacing what is there.
func (r *MemReplica) Store(key []byte, obj *conflict.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.objs[string(key)] = obj.Clone()
}

// Counts returns how many applies (hints among them) and reads succeeded.
func (r *MemReplica) Counts() (applies, hints, reads int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applies, r.hints, r.reads
}
