package replication_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// A replica validates what a peer writes as a client write is validated
// (key, each value and member, the whole object) and takes objects only
// for keys it holds; a refused object changes nothing.
func TestLocalReplica_ApplyReplica_validatesPeerWrites(t *testing.T) {
	cfg := storage.DefaultConfig()
	cfg.Dir = t.TempDir()
	e, err := storage.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	limits := keyspace.Limits{MaxKeyBytes: 8, MaxValueBytes: 10, MaxObjectBytes: 15}
	held := func(key []byte) bool { return !strings.HasPrefix(string(key), "other") }
	r := replication.NewLocalReplica(e, conflict.NewClock(nil, 0), limits, held)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		key     string
		obj     *conflict.Object
		wantErr error // nil: applied
	}{
		"within the limits":  {"k", register(1, 1, "0123456789"), nil},
		"key too large":      {"123456789", register(1, 1, "v"), keyspace.ErrKeyTooLarge},
		"value too large":    {"k2", register(1, 1, "0123456789x"), keyspace.ErrValueTooLarge},
		"member too large":   {"k3", setOf(1, 1, "0123456789x"), keyspace.ErrValueTooLarge},
		"object too large":   {"k4", setOf(1, 1, "0123456789", "abcdefghij"), keyspace.ErrObjectTooLarge},
		"key not replicated": {"other", register(1, 1, "v"), replication.ErrNotReplicated},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := r.ApplyReplica(ctx, []byte(tc.key), tc.obj, false)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("ApplyReplica(%s) = %v, want %v", tc.key, err, tc.wantErr)
			}
			if _, gerr := e.Get([]byte(tc.key)); (gerr == nil) != (tc.wantErr == nil) {
				t.Fatalf("after ApplyReplica (%v), stored: %v", err, gerr == nil)
			}
		})
	}
}

// setOf is a set object of members, all added with dot (actor, counter).
func setOf(actor, counter uint64, members ...string) *conflict.Object {
	o := &conflict.Object{}
	ms := make([][]byte, len(members))
	for i, m := range members {
		ms[i] = []byte(m)
	}
	o.SetAdd(conflict.Dot{Actor: conflict.ActorID(actor), Counter: counter}, conflict.Timestamp{Wall: 1000}, ms)
	return o
}
