package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/storage"
)

// LocalReplica serves a node's own copy to its peers: it is the Replica the
// ExchangeServer calls.
type LocalReplica struct {
	store  Store
	clock  *conflict.Clock
	limits func(key []byte) error
}

var _ Replica = (*LocalReplica)(nil)

// NewLocalReplica returns the replica over the node's store and clock;
// checkKey validates keys that come from peers.
func NewLocalReplica(store Store, clock *conflict.Clock, checkKey func(key []byte) error) *LocalReplica {
	return &LocalReplica{store: store, clock: clock, limits: checkKey}
}

// ApplyReplica merges obj into the local copy durably, after moving the
// clock past it; an object stamped beyond the clock offset is refused.
func (l *LocalReplica) ApplyReplica(ctx context.Context, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error) {
	if err := l.limits(key); err != nil {
		return nil, invalidArgument{err}
	}
	if err := l.clock.Update(obj.MaxTimestamp()); err != nil {
		return nil, fmt.Errorf("refusing the object: %w", err)
	}
	return l.store.Merge(key, obj)
}

// ReadReplica returns the local copy of key.
func (l *LocalReplica) ReadReplica(ctx context.Context, key []byte) (*conflict.Object, bool, error) {
	if err := l.limits(key); err != nil {
		return nil, false, invalidArgument{err}
	}
	o, err := l.store.Get(key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return o, true, nil
}
