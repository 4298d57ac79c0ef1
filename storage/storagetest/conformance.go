package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

// OpenFunc opens the engine kept in dir, a fresh directory or one an
// engine was closed in. The engine must be closed by the test's cleanup
// (Close is idempotent).
type OpenFunc func(t *testing.T, dir string) Engine

// RunConformance runs the conformance suite against the engines open
// makes, each case in a subtest of its own directory.
func RunConformance(t *testing.T, open OpenFunc) {
	cases := map[string]func(t *testing.T, open OpenFunc, dir string){}
	for _, group := range []map[string]func(*testing.T, OpenFunc, string){dataCases, treeCases, metaCases} {
		for name, c := range group {
			cases[name] = c
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range cases {
			if !yield(name) {
				return
			}
		}
	})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cases[name](t, open, dir)
		})
	}
}

// Key returns the i-th test key.
func Key(i int) []byte { return fmt.Appendf(nil, "key-%06d", i) }

// mustMerge merges obj under key or fails the test.
func mustMerge(t *testing.T, e Engine, key []byte, obj *conflict.Object) *conflict.Object {
	t.Helper()
	got, err := e.Merge(key, obj)
	if err != nil {
		t.Fatalf("merge %q: %v", key, err)
	}
	return got
}

// mustVerify fails the test if e's digest, trees or counters differ from
// a recomputation.
func mustVerify(t *testing.T, e Engine) {
	t.Helper()
	if err := Verify(e); err != nil {
		t.Fatal(err)
	}
}

func sameObject(a, b *conflict.Object) bool { return bytes.Equal(a.Marshal(), b.Marshal()) }

// fill merges objects under Key(0) .. Key(n-1): registers, every third a
// tombstone and every fifth a set.
func fill(t *testing.T, e Engine, n int) {
	t.Helper()
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = Key(i)
	}
	mergeAll(t, e, keys, func(i int) *conflict.Object {
		switch {
		case i%3 == 0:
			return Tombstone(ActorA, uint64(i+1), int64(i+1))
		case i%5 == 0:
			return Set(ActorA, uint64(i+1), int64(i+1), "m1", fmt.Sprint(i))
		}
		return Register(ActorA, uint64(i+1), int64(i+1), fmt.Sprint("v", i))
	})
}

// mergeAll merges obj(i) under keys[i] for every i, from 16 writers at
// once.
func mergeAll(t *testing.T, e Engine, keys [][]byte, obj func(i int) *conflict.Object) {
	t.Helper()
	const writers = 16
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(keys); i += writers {
				if _, err := e.Merge(keys[i], obj(i)); err != nil {
					t.Errorf("merge %q: %v", keys[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

var errTest = errors.New("test failure")

var dataCases = map[string]func(t *testing.T, open OpenFunc, dir string){
	"Get/missing key is ErrNotFound": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		if _, err := e.Get([]byte("nope")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	},
	"Get/empty key is invalid": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		if _, err := e.Get(nil); !errors.Is(err, storage.ErrInvalidArgument) {
			t.Fatalf("got %v, want ErrInvalidArgument", err)
		}
		if _, err := e.Merge(nil, Register(ActorA, 1, 1, "x")); !errors.Is(err, storage.ErrInvalidArgument) {
			t.Fatalf("merge: got %v, want ErrInvalidArgument", err)
		}
	},
	"Update/creates then sees what it stored": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		key := []byte("k")
		first := Register(ActorA, 1, 10, "one")
		got, err := e.Update(key, func(cur *conflict.Object) (*conflict.Object, error) {
			if cur != nil {
				return nil, fmt.Errorf("cur = %v, want nil", cur)
			}
			return first, nil
		})
		if err != nil || !sameObject(got, first) {
			t.Fatalf("update: %v, %v", got, err)
		}
		second := Register(ActorA, 2, 20, "two")
		got, err = e.Update(key, func(cur *conflict.Object) (*conflict.Object, error) {
			if cur == nil || !sameObject(cur, first) {
				return nil, fmt.Errorf("cur = %v, want the first object", cur)
			}
			cur.Put(conflict.LWW, conflict.Dot{Actor: ActorA, Counter: 2}, conflict.Timestamp{Wall: 20}, []byte("two"), cur.Reg.Ctx)
			return cur, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := e.Get(key)
		if err != nil || !sameObject(stored, got) || string(stored.Values()[0]) != "two" {
			t.Fatalf("get: %v %v, want %v", stored, err, second)
		}
		if s := e.Stats(); s.Keys != 1 || s.Tombstones != 0 {
			t.Fatalf("stats %+v, want 1 key", s)
		}
		mustVerify(t, e)
	},
	"Update/an error from fn writes nothing": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		fill(t, e, 10)
		before := e.Digest()
		for _, key := range [][]byte{Key(1), []byte("new")} {
			_, err := e.Update(key, func(cur *conflict.Object) (*conflict.Object, error) {
				if cur != nil {
					cur.Put(conflict.LWW, conflict.Dot{Actor: ActorB, Counter: 1}, conflict.Timestamp{Wall: 99}, []byte("x"), conflict.Context{})
				}
				return cur, errTest
			})
			if !errors.Is(err, errTest) {
				t.Fatalf("update %q: got %v, want the fn's error wrapped", key, err)
			}
		}
		if _, err := e.Get([]byte("new")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get after failed update: %v", err)
		}
		if e.Digest() != before {
			t.Fatal("digest changed by failed updates")
		}
		mustVerify(t, e)
	},
	"Update/returning the stored object changes nothing": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		fill(t, e, 10)
		before, stats := e.Digest(), e.Stats()
		got, err := e.Update(Key(2), func(cur *conflict.Object) (*conflict.Object, error) { return cur.Clone(), nil })
		if err != nil || got == nil {
			t.Fatalf("update: %v, %v", got, err)
		}
		if e.Digest() != before || e.Stats().Keys != stats.Keys {
			t.Fatal("unchanged update changed the digest or counters")
		}
	},
	"Merge/joins concurrent writes under the policy": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		key := []byte("k")
		a, b := Register(ActorA, 1, 10, "a"), Register(ActorB, 1, 20, "b")
		mustMerge(t, e, key, a)
		got := mustMerge(t, e, key, b)
		want := conflict.Merge(e.Policy(), a, b)
		if !sameObject(got, want) {
			t.Fatalf("merged %v, want %v", got, want)
		}
		stored, err := e.Get(key)
		if err != nil || !sameObject(stored, want) {
			t.Fatalf("get: %v, %v", stored, err)
		}
		before := e.Digest()
		mustMerge(t, e, key, a) // idempotent: nothing new
		mustMerge(t, e, key, want)
		if e.Digest() != before {
			t.Fatal("re-merging known writes changed the digest")
		}
		mustVerify(t, e)
	},
	"Merge/tombstones and sets are counted apart": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		mustMerge(t, e, []byte("reg"), Register(ActorA, 1, 1, "v"))
		mustMerge(t, e, []byte("set"), Set(ActorA, 2, 2, "m"))
		mustMerge(t, e, []byte("dead"), Tombstone(ActorA, 3, 3))
		if s := e.Stats(); s.Keys != 2 || s.Tombstones != 1 {
			t.Fatalf("stats %+v, want 2 keys, 1 tombstone", s)
		}
		// A tombstone that saw the register turns the key into one.
		mustMerge(t, e, []byte("reg"), Tombstone(ActorA, 2, 5))
		if s := e.Stats(); s.Keys != 1 || s.Tombstones != 2 {
			t.Fatalf("stats %+v after delete, want 1 key, 2 tombstones", s)
		}
		mustVerify(t, e)
	},
	"Delete/removes the object from trees, digest and counters": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		fill(t, e, 30)
		before, stats := e.Digest(), e.Stats()
		mustMerge(t, e, []byte("extra"), Tombstone(ActorB, 1, 1))
		if err := e.Delete([]byte("extra")); err != nil {
			t.Fatal(err)
		}
		if err := e.Delete([]byte("never-there")); err != nil {
			t.Fatalf("delete of a missing key: %v", err)
		}
		if _, err := e.Get([]byte("extra")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		if e.Digest() != before || e.Stats().Tombstones != stats.Tombstones {
			t.Fatal("delete did not restore digest and counters")
		}
		for i := range 30 {
			if err := e.Delete(Key(i)); err != nil {
				t.Fatal(err)
			}
		}
		if d := e.Digest(); d != ([storage.HashSize]byte{}) {
			t.Fatalf("digest of an empty engine is %x", d)
		}
		if s := e.Stats(); s.Keys != 0 || s.Tombstones != 0 {
			t.Fatalf("stats of an empty engine: %+v", s)
		}
		mustVerify(t, e)
	},
	"Scan/each partition in storage key order": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		const n = 1500
		fill(t, e, n)
		c, err := ReadAll(e)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Keys) != n || len(c.Objects) != n {
			t.Fatalf("scanned %d keys (%d distinct), want %d", len(c.Keys), len(c.Objects), n)
		}
		sks := make([][]byte, len(c.Keys))
		for i, k := range c.Keys {
			sks[i] = storage.Key(k)
		}
		if !slices.IsSortedFunc(sks, bytes.Compare) {
			t.Fatal("scan is not in storage key order")
		}
		for i := 1; i < len(c.Keys); i++ {
			if keyspace.PartitionOf(c.Keys[i]) < keyspace.PartitionOf(c.Keys[i-1]) {
				t.Fatal("partitions out of order")
			}
		}
		for i := range n {
			if _, ok := c.Objects[string(Key(i))]; !ok {
				t.Fatalf("key %q not scanned", Key(i))
			}
		}
	},
	"Scan/partition ranges, resume and stop": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		// Enough keys in one partition to cross Scan's chunks, and some in
		// others.
		var keys, all [][]byte
		target := keyspace.PartitionOf(Key(0))
		for i := 0; len(keys) < 700; i++ {
			if keyspace.PartitionOf(Key(i)) == target {
				keys = append(keys, Key(i))
				all = append(all, Key(i))
			} else if i%9973 == 0 {
				all = append(all, Key(i))
			}
		}
		mergeAll(t, e, all, func(i int) *conflict.Object { return Register(ActorA, uint64(i+1), 1, "v") })
		slices.SortFunc(keys, func(a, b []byte) int { return bytes.Compare(storage.Key(a), storage.Key(b)) })
		scan := func(after []byte, limit int) [][]byte {
			var out [][]byte
			err := e.Scan(target, after, func(key []byte, obj *conflict.Object) bool {
				if keyspace.PartitionOf(key) != target {
					t.Fatalf("key %q of partition %d in partition %d", key, keyspace.PartitionOf(key), target)
				}
				out = append(out, key)
				return limit == 0 || len(out) < limit
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		tests := map[string]struct {
			after []byte
			limit int
			want  [][]byte
		}{
			"all":                      {nil, 0, keys},
			"after the 300th":          {storage.Key(keys[299]), 0, keys[300:]},
			"after the last":           {storage.Key(keys[len(keys)-1]), 0, nil},
			"after a missing key":      {append(storage.Key(keys[9]), 0), 0, keys[10:]},
			"stop after 5":             {nil, 5, keys[:5]},
			"after a partition before": {[]byte{0, 0}, 0, keys},
			"after a partition beyond": {[]byte{0xff, 0xff}, 0, nil},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				got := scan(tc.after, tc.limit)
				if !slices.EqualFunc(got, tc.want, bytes.Equal) {
					t.Fatalf("got %d keys, want %d", len(got), len(tc.want))
				}
			})
		}
	},
	"Scan/invalid partition": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		err := e.Scan(keyspace.Q, nil, func([]byte, *conflict.Object) bool { return true })
		if !errors.Is(err, storage.ErrInvalidArgument) {
			t.Fatalf("got %v, want ErrInvalidArgument", err)
		}
	},
}
