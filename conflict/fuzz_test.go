package conflict_test

import (
	"bytes"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/conflict"
)

// seedObjects returns valid encodings for the fuzz corpora: objects from a
// history under each policy and arbitrary canonical objects.
func seedObjects(tb testing.TB) [][]byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	out := [][]byte{(&conflict.Object{}).Marshal()}
	for range 6 {
		out = append(out, randomObject(rng).Marshal())
	}
	for _, p := range policies {
		m := randomModel(tb, rng, modelConfig{policy: p, snapshots: true})
		m.run(rng, 30)
		for i := 0; i < len(m.states); i += 5 {
			out = append(out, m.states[i].Marshal())
		}
	}
	return out
}

func FuzzDecodeObject(f *testing.F) {
	for _, b := range seedObjects(f) {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0x80, 0x00, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := conflict.DecodeObject(b)
		if err != nil {
			if !errors.Is(err, conflict.ErrCorrupt) || o != nil {
				t.Fatalf("DecodeObject = %v, %v; want nil, ErrCorrupt", o, err)
			}
			return
		}
		if got := o.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("DecodeObject accepted %x, which re-marshals to %x", b, got)
		}
		_ = o.Kind()
		_ = o.Values()
		_ = o.Members()
	})
}

func FuzzTokenOpen(f *testing.F) {
	k := keyring(f, clusterOne, secretOne)
	rng := rand.New(rand.NewPCG(8, 8))
	for _, key := range [][]byte{nil, []byte("k"), []byte("a longer key")} {
		for range 3 {
			f.Add(key, k.Seal(key, randomTokenState(rng)))
		}
	}
	f.Add([]byte("k"), keyring(f, clusterTwo, secretOne).Seal([]byte("k"), randomTokenState(rng)))
	f.Add([]byte("k"), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, key, tok []byte) {
		st, err := k.Open(key, tok)
		if err != nil {
			tokenError(t, err)
			if !st.Ctx.IsEmpty() || !st.MaxTS.IsZero() {
				t.Fatalf("a refused token yields %+v", st)
			}
			return
		}
		if again := k.Seal(key, st); !bytes.Equal(again, tok) {
			t.Fatalf("Open accepted %x for key %q, which this keyring did not seal (re-seal: %x)", tok, key, again)
		}
	})
}

func FuzzMerge(f *testing.F) {
	objs := seedObjects(f)
	for i := range objs {
		f.Add(objs[i], objs[(i+1)%len(objs)])
		f.Add(objs[i], objs[(i+3)%len(objs)])
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		x, errX := conflict.DecodeObject(a)
		y, errY := conflict.DecodeObject(b)
		if errX != nil || errY != nil {
			return
		}
		for _, p := range policies {
			xy := conflict.Merge(p, x, y)
			requireSameBytes(t, p.String()+": commutative", xy, conflict.Merge(p, y, x))
			if _, err := conflict.DecodeObject(xy.Marshal()); err != nil {
				t.Fatalf("%v: the merge is not canonical: %v\n  %s", p, err, dump(xy))
			}
			if !bytes.Equal(x.Marshal(), a) || !bytes.Equal(y.Marshal(), b) {
				t.Fatalf("%v: Merge changed an input", p)
			}
		}
		if got := conflict.Merge(conflict.Siblings, x, x).Marshal(); !bytes.Equal(got, a) {
			t.Fatalf("siblings: x⊔x differs from x")
		}
		// LWW resolves on merge: x itself may hold several siblings, x⊔x
		// holds one and is then stable.
		xx := conflict.Merge(conflict.LWW, x, x)
		requireSameBytes(t, "lww: idempotent after one merge", conflict.Merge(conflict.LWW, xx, xx), xx)
	})
}

// FuzzHistory drives the model with the fuzz input as its choices and
// checks that Merge is a join on the states it went through, that the
// replicas' states merge to the same bytes in every order, and the oracle
// after convergence.
func FuzzHistory(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 9))
	f.Add([]byte{})
	for range 8 {
		f.Add(randomBytes(rng, 300))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 512 {
			data = data[:512]
		}
		h := fnv.New64a()
		h.Write(data)
		pick := rand.New(rand.NewPCG(h.Sum64(), 0))
		c := &byteChooser{b: data}
		p := policies[c.IntN(2)]
		var actor uint64
		m := newModel(t, modelConfig{
			policy:    p,
			skews:     []time.Duration{-300 * time.Millisecond, 0, 100 * time.Millisecond},
			snapshots: true,
		}, func() uint64 { actor++; return actor })
		for len(c.b) > 0 {
			m.step(c)
		}
		checkJoin(t, p, m.states, pick, 30)
		checkPermutations(t, p, m.objects(), pick)
		m.cfg.check = checkAllAspects
		m.converge()
	})
}
