package antientropy

import (
	"errors"
	"fmt"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// GraceStore wraps a replica's store for the objects that arrive from other
// nodes (replica writes, hints, read repair, anti-entropy, streaming): a
// tombstone older than the grace period for a key the replica does not hold
// is dropped rather than stored, so a key purged here does not come back
// from a replica that has yet to purge it. It is the Purger's other half
// and takes the same grace and clock. Safe for concurrent use.
type GraceStore struct {
	replication.Store
	grace time.Duration
	clock replication.Clock
}

var _ replication.Store = (*GraceStore)(nil)

// NewGraceStore returns store under the grace rule of grace (positive, the
// Purger's PurgeConfig.Grace) on clock (nil: the real clock).
func NewGraceStore(store replication.Store, grace time.Duration, clock replication.Clock) (*GraceStore, error) {
	if grace <= 0 {
		return nil, fmt.Errorf("grace store: grace is %s: must be positive", grace)
	}
	if store == nil {
		return nil, errors.New("grace store: store is required")
	}
	return &GraceStore{Store: store, grace: grace, clock: clock}, nil
}

// Merge merges obj into the copy of key, or drops it as described above and
// returns it unchanged.
func (g *GraceStore) Merge(key []byte, obj *conflict.Object) (*conflict.Object, error) {
	if !obj.Live() && obj.MaxTimestamp().Wall < g.clock.Now().Add(-g.grace).UnixNano() {
		if _, err := g.Get(key); errors.Is(err, storage.ErrNotFound) {
			return obj, nil
		}
	}
	return g.Store.Merge(key, obj)
}
