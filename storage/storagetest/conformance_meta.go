package storagetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

func mustClose(t *testing.T, e Engine) {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

var metaCases = map[string]func(t *testing.T, open OpenFunc, dir string){
	"Hints/add, merge, list, delete and drop": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		t0 := time.Unix(1000, 0)
		a, b := Register(ActorA, 1, 10, "a"), Register(ActorB, 1, 20, "b")
		for _, h := range []struct {
			target string
			key    string
			obj    *conflict.Object
			at     time.Time
		}{
			{"n2", "k1", a, t0},
			{"n2", "k1", b, t0.Add(time.Second)}, // merged into the first
			{"n2", "k2", a, t0},
			{"n3", "k1", a, t0},
			{"n22", "k1", a, t0}, // a target whose name extends another's
		} {
			if err := e.AddHint(h.target, []byte(h.key), h.obj, h.at); err != nil {
				t.Fatal(err)
			}
		}
		if s := e.Stats(); s.HintsPending != 4 {
			t.Fatalf("%d hints pending, want 4", s.HintsPending)
		}
		hs, err := e.Hints("n2", 0)
		if err != nil || len(hs) != 2 {
			t.Fatalf("hints for n2: %v, %v", hs, err)
		}
		var k1 storage.Hint
		for _, h := range hs {
			if h.Target != "n2" {
				t.Fatalf("hint for %s listed under n2", h.Target)
			}
			if string(h.Key) == "k1" {
				k1 = h
			}
		}
		if !sameObject(k1.Object, conflict.Merge(e.Policy(), a, b)) || !k1.Created.Equal(t0) {
			t.Fatalf("merged hint %+v: want both writes, created at the first", k1)
		}
		if one, err := e.Hints("n2", 1); err != nil || len(one) != 1 {
			t.Fatalf("limit 1: %d hints, %v", len(one), err)
		}
		// Paging: after the first key comes the second, then nothing.
		if next, err := e.HintsAfter("n2", hs[0].Key, 0); err != nil || len(next) != 1 || string(next[0].Key) != string(hs[1].Key) {
			t.Fatalf("hints for n2 after %q: %v, %v; want %q alone", hs[0].Key, next, err, hs[1].Key)
		}
		if rest, err := e.HintsAfter("n2", hs[1].Key, 0); err != nil || len(rest) != 0 {
			t.Fatalf("hints for n2 after the last: %v, %v", rest, err)
		}
		if n2, err := e.HintBytes("n2"); err != nil || n2 <= 0 {
			t.Fatalf("HintBytes(n2) = %d, %v; want the bytes of two hints", n2, err)
		} else if n3, err := e.HintBytes("n3"); err != nil || n3 <= 0 || n3 >= n2 {
			t.Fatalf("HintBytes(n3) = %d, %v; want the bytes of one hint, fewer than n2's %d", n3, err, n2)
		}
		// A hint merged into after it was read is not deleted.
		stale := k1
		if err := e.AddHint("n2", []byte("k1"), Register(ActorB, 2, 30, "c"), t0); err != nil {
			t.Fatal(err)
		}
		if err := e.DeleteHint(stale); err != nil {
			t.Fatal(err)
		}
		if hs, _ := e.Hints("n2", 0); len(hs) != 2 {
			t.Fatalf("stale delete removed a newer hint: %d left", len(hs))
		}
		hs, _ = e.Hints("n2", 0)
		for _, h := range hs {
			if err := e.DeleteHint(h); err != nil {
				t.Fatal(err)
			}
		}
		if hs, _ := e.Hints("n2", 0); len(hs) != 0 {
			t.Fatalf("%d hints left for n2", len(hs))
		}
		if n, err := e.DropHints("n3"); err != nil || n != 1 {
			t.Fatalf("drop n3: %d, %v", n, err)
		}
		if n, err := e.DropHints("n3"); err != nil || n != 0 {
			t.Fatalf("drop n3 again: %d, %v", n, err)
		}
		if s := e.Stats(); s.HintsPending != 1 {
			t.Fatalf("%d hints pending, want 1 (n22)", s.HintsPending)
		}
		if d := e.Digest(); d != ([storage.HashSize]byte{}) {
			t.Fatal("hints changed the digest")
		}
		if err := e.AddHint("", []byte("k"), a, t0); !errors.Is(err, storage.ErrInvalidArgument) {
			t.Fatalf("empty target: %v", err)
		}
	},
	"Lease/persists across reopen": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		if _, ok, err := e.LoadLease(); ok || err != nil {
			t.Fatalf("new engine has a lease: %v, %v", ok, err)
		}
		issuer, err := conflict.OpenDotIssuer(e, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		var last conflict.Dot
		for range 25 {
			if last, err = issuer.Next(); err != nil {
				t.Fatal(err)
			}
		}
		mustClose(t, e)
		e = open(t, dir)
		l, ok, err := e.LoadLease()
		if err != nil || !ok || l.Actor != last.Actor || l.Reserved < last.Counter {
			t.Fatalf("lease after reopen %+v %v %v, last dot %v", l, ok, err, last)
		}
		issuer, err = conflict.OpenDotIssuer(e, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		if next, _ := issuer.Next(); next.Actor != last.Actor || next.Counter <= last.Counter {
			t.Fatalf("dot %v after reopen, last was %v", next, last)
		}
	},
	"Meta and members/persist across reopen": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		if _, ok, err := e.Meta("node-id"); ok || err != nil {
			t.Fatalf("new engine has metadata: %v, %v", ok, err)
		}
		if m, err := e.LoadMembers(); m != nil || err != nil {
			t.Fatalf("new engine has members: %q, %v", m, err)
		}
		if err := e.PutMeta("node-id", []byte("n1")); err != nil {
			t.Fatal(err)
		}
		if err := e.PutMeta("empty", nil); err != nil {
			t.Fatal(err)
		}
		if err := e.SaveMembers([]byte("table-v1")); err != nil {
			t.Fatal(err)
		}
		if err := e.SaveMembers([]byte("table-v2")); err != nil {
			t.Fatal(err)
		}
		if err := e.PutMeta("", []byte("x")); !errors.Is(err, storage.ErrInvalidArgument) {
			t.Fatalf("empty name: %v", err)
		}
		mustClose(t, e)
		e = open(t, dir)
		if v, ok, err := e.Meta("node-id"); string(v) != "n1" || !ok || err != nil {
			t.Fatalf("node-id after reopen: %q %v %v", v, ok, err)
		}
		if v, ok, err := e.Meta("empty"); len(v) != 0 || !ok || err != nil {
			t.Fatalf("empty after reopen: %q %v %v", v, ok, err)
		}
		if m, err := e.LoadMembers(); string(m) != "table-v2" || err != nil {
			t.Fatalf("members after reopen: %q, %v", m, err)
		}
		if d := e.Digest(); d != ([storage.HashSize]byte{}) {
			t.Fatal("metadata changed the digest")
		}
	},
	"Reopen/keeps objects, trees, digest, counters and hints": func(t *testing.T, open OpenFunc, dir string) {
		e := open(t, dir)
		fill(t, e, 1000)
		if err := e.Delete(Key(3)); err != nil {
			t.Fatal(err)
		}
		if err := e.AddHint("n2", Key(1), Register(ActorB, 1, 1, "h"), time.Unix(5, 0)); err != nil {
			t.Fatal(err)
		}
		before, err := ReadAll(e)
		if err != nil {
			t.Fatal(err)
		}
		digest, stats := e.Digest(), e.Stats()
		parts := []keyspace.Partition{0, 1, keyspace.PartitionOf(Key(7)), keyspace.Q - 1}
		roots, err := e.MerkleRoots(parts)
		if err != nil {
			t.Fatal(err)
		}
		mustClose(t, e)
		if err := e.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		if _, err := e.Get(Key(1)); !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("get after close: %v", err)
		}
		if _, err := e.Merge(Key(1), Register(ActorA, 1, 1, "x")); !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("merge after close: %v", err)
		}

		e = open(t, dir)
		after, err := ReadAll(e)
		if err != nil {
			t.Fatal(err)
		}
		if len(after.Keys) != len(before.Keys) {
			t.Fatalf("%d keys after reopen, %d before", len(after.Keys), len(before.Keys))
		}
		for i, k := range before.Keys {
			if !bytes.Equal(after.Keys[i], k) || !sameObject(after.Objects[string(k)], before.Objects[string(k)]) {
				t.Fatalf("key %q differs after reopen", k)
			}
		}
		if e.Digest() != digest {
			t.Fatal("digest differs after reopen")
		}
		if s := e.Stats(); s.Keys != stats.Keys || s.Tombstones != stats.Tombstones || s.HintsPending != stats.HintsPending {
			t.Fatalf("stats %+v after reopen, %+v before", s, stats)
		}
		roots2, err := e.MerkleRoots(parts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range roots {
			if roots[i] != roots2[i] {
				t.Fatalf("root of partition %d differs after reopen", parts[i])
			}
		}
		if hs, err := e.Hints("n2", 0); err != nil || len(hs) != 1 || !hs[0].Created.Equal(time.Unix(5, 0)) {
			t.Fatalf("hints after reopen: %v, %v", hs, err)
		}
		mustVerify(t, e)
	},
}
