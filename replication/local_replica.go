package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

// LocalReplica serves a node's own copy to its peers: it is the Replica the
// ExchangeServer calls. What peers write is validated as client writes
// are: key, values and members, and the whole object within the cluster's
// limits, and only for keys this node holds.
type LocalReplica struct {
	store      Store
	clock      *conflict.Clock
	limits     keyspace.Limits
	replicates func(key []byte) bool
}

var _ Replica = (*LocalReplica)(nil)

// NewLocalReplica returns the replica over the node's store and clock.
// limits bound what peers may write; replicates, if not nil, reports
// whether this node is a current or pending replica of a key in its view
// of the ring: an object for any other key is refused (nil accepts every
// key, for tests).
func NewLocalReplica(store Store, clock *conflict.Clock, limits keyspace.Limits, replicates func(key []byte) bool) *LocalReplica {
	return &LocalReplica{store: store, clock: clock, limits: limits, replicates: replicates}
}

// ErrNotReplicated is the refusal of an object a peer sent for a key
// this node does not hold in its view of the ring.
var ErrNotReplicated = errors.New("not a replica of the key")

// checkObject validates an object a peer sent for key.
func (l *LocalReplica) checkObject(key []byte, obj *conflict.Object) error {
	if err := l.limits.CheckKey(key); err != nil {
		return invalidArgument{err}
	}
	for i := range obj.Reg.Siblings {
		if err := l.limits.CheckValue(obj.Reg.Siblings[i].Value); err != nil {
			return invalidArgument{err}
		}
	}
	for i := range obj.Set.Members {
		if err := l.limits.CheckValue(obj.Set.Members[i].Value); err != nil {
			return invalidArgument{err}
		}
	}
	if err := l.limits.CheckObject(obj.PayloadBytes()); err != nil {
		return invalidArgument{err}
	}
	if l.replicates != nil && !l.replicates(key) {
		return fmt.Errorf("%w (partition %d), in this node's view of the ring", ErrNotReplicated, keyspace.PartitionOf(key))
	}
	return nil
}

// ApplyReplica merges obj into the local copy durably, after checking it
// and moving the clock past it; an object stamped beyond the clock offset
// is refused.
func (l *LocalReplica) ApplyReplica(ctx context.Context, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error) {
	if err := l.checkObject(key, obj); err != nil {
		return nil, err
	}
	if err := l.clock.Update(obj.MaxTimestamp()); err != nil {
		return nil, fmt.Errorf("refusing the object: %w", err)
	}
	return l.store.Merge(key, obj)
}

// ReadReplica returns the local copy of key.
func (l *LocalReplica) ReadReplica(ctx context.Context, key []byte) (*conflict.Object, bool, error) {
	if err := l.limits.CheckKey(key); err != nil {
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
