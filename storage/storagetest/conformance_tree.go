package storagetest

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

var treeCases = map[string]func(t *testing.T, open OpenFunc, dir string){
	"Digest/equals the recomputed sum": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		if d := e.Digest(); d != ([storage.HashSize]byte{}) {
			t.Fatalf("digest of a new engine is %x", d)
		}
		fill(t, e, 500)
		for i := 0; i < 500; i += 7 { // overwrite some, delete others
			if i%2 == 0 {
				mustMerge(t, e, Key(i), Register(ActorB, uint64(i+1), int64(1000+i), "newer"))
			} else if err := e.Delete(Key(i)); err != nil {
				t.Fatal(err)
			}
		}
		c, err := ReadAll(e)
		if err != nil {
			t.Fatal(err)
		}
		var hs []*big.Int
		for k, obj := range c.Objects {
			hs = append(hs, EntryHash([]byte(k), obj))
		}
		if got, want := e.Digest(), Uint128(Sum(hs...)); got != want {
			t.Fatalf("digest %x, recomputed %x", got, want)
		}
		mustVerify(t, e)
	},
	"Digest/does not depend on write order": func(t *testing.T, open OpenFunc, dir string) {
		const n = 300
		objs := make([]*conflict.Object, n)
		for i := range objs {
			objs[i] = Register(ActorA, uint64(i+1), int64(i), "v")
		}
		a := open(t, dir+"/a")
		b := open(t, dir+"/b")
		for i := range n {
			mustMerge(t, a, Key(i), objs[i])
		}
		seed := rand.Uint64()
		t.Logf("seed %d", seed)
		for _, i := range rand.New(rand.NewPCG(seed, 0)).Perm(n) {
			mustMerge(t, b, Key(i), objs[i])
			mustMerge(t, b, Key(i), objs[i]) // duplicates change nothing
		}
		if a.Digest() != b.Digest() {
			t.Fatalf("digests differ: %x and %x", a.Digest(), b.Digest())
		}
		parts := []keyspace.Partition{0, keyspace.PartitionOf(Key(0)), keyspace.Q - 1}
		ra, err := a.MerkleRoots(parts)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.MerkleRoots(parts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range parts {
			if ra[i] != rb[i] {
				t.Fatalf("root of partition %d differs", parts[i])
			}
		}
	},
	"Merkle/leaves, nodes and roots equal recomputation": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		fill(t, e, 1200)
		mustVerify(t, e)
	},
	"Merkle/leaf entries are the leaf's keys": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		// Keys sharing Key(0)'s leaf, keys in the next leaf, and others.
		p, leaf := keyspace.PartitionOf(Key(0)), LeafOf(Key(0))
		next := (leaf + 1) % storage.MerkleLeaves
		var keys, inLeaf [][]byte
		for i := 0; len(inLeaf) < 8; i++ {
			k := Key(i)
			switch {
			case keyspace.PartitionOf(k) != p:
				if i%4999 == 0 {
					keys = append(keys, k)
				}
				continue
			case LeafOf(k) == leaf:
				inLeaf = append(inLeaf, k)
			case LeafOf(k) != next:
				continue
			}
			keys = append(keys, k)
		}
		mergeAll(t, e, keys, func(i int) *conflict.Object { return Register(ActorA, uint64(i+1), 1, "v") })
		want := map[string]*big.Int{}
		for _, k := range inLeaf {
			obj, err := e.Get(k)
			if err != nil {
				t.Fatal(err)
			}
			want[string(k)] = EntryHash(k, obj)
		}
		got, err := e.LeafEntries(p, leaf)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d entries, want %d", len(got), len(want))
		}
		var hs []*big.Int
		for _, kh := range got {
			h, ok := want[string(kh.Key)]
			if !ok || kh.Hash != Uint128(h) {
				t.Fatalf("entry %q hash %x, want %v", kh.Key, kh.Hash, h)
			}
			hs = append(hs, h)
		}
		nodes, err := e.MerkleNodes(p, 2, []int{leaf})
		if err != nil {
			t.Fatal(err)
		}
		if nodes[0] != Uint128(Sum(hs...)) {
			t.Fatal("leaf is not the sum of its entries")
		}
		// A leaf with nothing in it.
		empty := (leaf + 2) % storage.MerkleLeaves
		if got, err := e.LeafEntries(p, empty); err != nil || len(got) != 0 {
			t.Fatalf("empty leaf: %v, %v", got, err)
		}
		mustVerify(t, e)
	},
	"Merkle/invalid arguments": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		calls := map[string]func() error{
			"roots of partition Q": func() error { _, err := e.MerkleRoots([]keyspace.Partition{keyspace.Q}); return err },
			"level 3":              func() error { _, err := e.MerkleNodes(0, 3, nil); return err },
			"level -1":             func() error { _, err := e.MerkleNodes(0, -1, nil); return err },
			"node 16 of level 1":   func() error { _, err := e.MerkleNodes(0, 1, []int{16}); return err },
			"node 1 of level 0":    func() error { _, err := e.MerkleNodes(0, 0, []int{1}); return err },
			"leaf 256":             func() error { _, err := e.LeafEntries(0, 256); return err },
			"leaf of partition Q":  func() error { _, err := e.LeafEntries(keyspace.Q, 0); return err },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, storage.ErrInvalidArgument) {
				t.Errorf("%s: got %v, want ErrInvalidArgument", name, err)
			}
		}
	},
}
