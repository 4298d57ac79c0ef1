package antientropy

import (
	"errors"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// GraceStore wraps a replica's store for the objects that arrive from other
// nodes (replica writes, hints, read repair, anti-entropy, streaming): a
// tombstone older than the grace period for a key the replica does not hold
// is dropped rather than stored, so a key purged here does not come back
// from a replica that has yet to purge it.
type GraceStore struct {
	replication.Store
	Grace time.Duration
	Now   func() time.Time
}

// Merge merges obj into the copy of key, or drops it as described above and
// returns it unchanged.
func (g *GraceStore) Merge(key []byte, obj *conflict.Object) (*conflict.Object, error) {
	if !obj.Live() && obj.MaxTimestamp().Wall < g.Now().Add(-g.Grace).UnixNano() {
		if _, err := g.Get(key); errors.Is(err, storage.ErrNotFound) {
			return obj, nil
		}
	}
	return g.Store.Merge(key, obj)
}
