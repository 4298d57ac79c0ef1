package replication_test

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

func TestCoordinator_wrongType(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	ctx := testCtx(t)
	reg, set := []byte("register"), []byte("set")
	if _, err := c.Node("n1").Coord.Put(ctx, reg, []byte("v"), nil, replication.All); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Node("n1").Coord.SetAdd(ctx, set, [][]byte{[]byte("m")}, replication.All); err != nil {
		t.Fatal(err)
	}
	before := c.Digests()
	for _, id := range c.IDs() {
		co := c.Node(id).Coord
		ops := map[string]func() (replication.Receipt, error){
			"sadd on a register": func() (replication.Receipt, error) {
				return co.SetAdd(ctx, reg, [][]byte{[]byte("m")}, replication.Quorum)
			},
			"srem on a register": func() (replication.Receipt, error) {
				return co.SetRemove(ctx, reg, [][]byte{[]byte("m")}, replication.Quorum)
			},
			"put on a set": func() (replication.Receipt, error) {
				return co.Put(ctx, set, []byte("v"), nil, replication.Quorum)
			},
			"smembers of a register": func() (replication.Receipt, error) {
				res, err := co.SetMembers(ctx, reg, replication.Quorum)
				return res.Receipt, err
			},
			"get of a set": func() (replication.Receipt, error) {
				res, err := co.Get(ctx, set, replication.Quorum)
				return res.Receipt, err
			},
		}
		for name, op := range ops {
			t.Run(name+" via "+id, func(t *testing.T) {
				r, err := op()
				if !errors.Is(err, replication.ErrWrongType) {
					t.Fatalf("error %v, want ErrWrongType", err)
				}
				var qe *replication.QuorumError
				if errors.As(err, &qe) {
					t.Fatalf("a wrong type is not a quorum failure: %v", err)
				}
				if r.Applied != 0 && r.Applied != replication.AppliedNone {
					t.Fatalf("refused write reports applied %v", r.Applied)
				}
			})
		}
	}
	if after := c.Digests(); !maps.Equal(before, after) {
		t.Fatal("a refused write changed a replica")
	}

	t.Run("delete of a set removes it", func(t *testing.T) {
		r, err := c.Node("n2").Coord.Delete(ctx, set, replication.Quorum)
		if err != nil || r.Applied == replication.AppliedNone {
			t.Fatalf("delete: %+v, %v", r, err)
		}
		for _, id := range c.IDs() {
			res, err := c.Node(id).Coord.SetMembers(ctx, set, replication.Quorum)
			if err != nil || res.Found || len(res.Members) != 0 {
				t.Fatalf("smembers via %s after delete: %+v, %v", id, res, err)
			}
			got, err := c.Node(id).Coord.Get(ctx, set, replication.Quorum)
			if err != nil || got.Found {
				t.Fatalf("get via %s of a deleted set: %+v, %v", id, got, err)
			}
		}
		// Nothing live: the key takes either type again.
		if _, err := c.Node("n3").Coord.Put(ctx, set, []byte("now a register"), nil, replication.Quorum); err != nil {
			t.Fatalf("put on a deleted set: %v", err)
		}
	})
	t.Run("delete of a register removes it", func(t *testing.T) {
		if _, err := c.Node("n3").Coord.Delete(ctx, reg, replication.All); err != nil {
			t.Fatal(err)
		}
		for _, id := range c.IDs() {
			res, err := c.Node(id).Coord.Get(ctx, reg, replication.One)
			if err != nil || res.Found || res.Values != nil {
				t.Fatalf("get via %s after delete: %+v, %v", id, res, err)
			}
		}
		if _, err := c.Node("n1").Coord.SetAdd(ctx, reg, [][]byte{[]byte("a"), []byte("b")}, replication.Quorum); err != nil {
			t.Fatalf("sadd on a deleted register: %v", err)
		}
		res, err := c.Node("n2").Coord.SetMembers(ctx, reg, replication.Quorum)
		if err != nil || !slices.Equal(valueStrings(res.Members), []string{"a", "b"}) {
			t.Fatalf("smembers: %q, %v", res.Members, err)
		}
	})
}

// A set add whose members together exceed the value limit is an invalid
// argument, refused before anything is written, even where the object
// limit would still allow it.
func TestCoordinator_SetAdd_membersOverValueLimit(t *testing.T) {
	c := newCluster(t, replicationtest.ClusterConfig{})
	ctx := testCtx(t)
	half := keyspace.DefaultMaxValueBytes/2 + 1
	members := [][]byte{bytes.Repeat([]byte("a"), half), bytes.Repeat([]byte("b"), half)}
	before := c.Digests()
	r, err := c.Node("n1").Coord.SetAdd(ctx, []byte("set"), members, replication.Quorum)
	if !errors.Is(err, replication.ErrInvalidArgument) || !errors.Is(err, keyspace.ErrValueTooLarge) {
		t.Fatalf("error %v, want an invalid argument wrapping ErrValueTooLarge", err)
	}
	if r.Applied != 0 && r.Applied != replication.AppliedNone {
		t.Fatalf("refused add reports applied %v", r.Applied)
	}
	if after := c.Digests(); !maps.Equal(before, after) {
		t.Fatal("a refused add changed a replica")
	}
	if _, err := c.Node("n1").Coord.SetAdd(ctx, []byte("set"), members[:1], replication.Quorum); err != nil {
		t.Fatalf("one member within the limit: %v", err)
	}
}
