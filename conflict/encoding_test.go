package conflict_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
)

// Property 10: what Marshal writes decodes and re-marshals to the same
// bytes, for objects from histories and arbitrary canonical objects.
func TestDecodeObject_roundTrip(t *testing.T) {
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		objs := []*conflict.Object{{}}
		for range 20 {
			objs = append(objs, randomObject(rng))
		}
		m := randomModel(t, rng, modelConfig{policy: policies[rng.IntN(2)], snapshots: true})
		m.run(rng, 30)
		objs = append(objs, m.states...)
		for _, o := range objs {
			b := o.Marshal()
			got, err := conflict.DecodeObject(b)
			if err != nil {
				t.Fatalf("DecodeObject(Marshal(o)): %v\n  %s", err, dump(o))
			}
			if !bytes.Equal(got.Marshal(), b) {
				t.Fatalf("re-marshal differs\n  %s\n  %s", dump(o), dump(got))
			}
			if got.Kind() != o.Kind() || !bytes.Equal(bytes.Join(got.Values(), nil), bytes.Join(o.Values(), nil)) {
				t.Fatalf("decoded object reads differently")
			}
			if pre := []byte("prefix"); !bytes.Equal(o.AppendBinary(pre), append([]byte("prefix"), b...)) {
				t.Fatalf("AppendBinary does not append Marshal's bytes")
			}
		}
	})
}

func TestDecodeObject_doesNotAliasInput(t *testing.T) {
	o := put(conflict.Siblings, &conflict.Object{}, dt(actA, 1), 10, "value", conflict.Context{})
	o.SetAdd(dt(actA, 2), ts(11), values("member"))
	b := o.Marshal()
	got, err := conflict.DecodeObject(b)
	if err != nil {
		t.Fatal(err)
	}
	want := got.Marshal()
	for i := range b {
		b[i] ^= 0xff
	}
	if !bytes.Equal(got.Marshal(), want) {
		t.Fatalf("changing the input changed the decoded object")
	}
}

// rawOneSibling encodes, field by field, an object with one tombstone or
// live sibling of actor 0xa and the context {a: counter}, for inputs Marshal
// cannot produce.
func rawOneSibling(counter uint64, wall int64, logical uint64, flag byte) []byte {
	b := []byte{1, 1} // version, one sibling
	b = binary.BigEndian.AppendUint64(b, 0xa)
	b = binary.AppendUvarint(b, counter)
	b = binary.AppendVarint(b, wall)
	b = binary.AppendUvarint(b, logical)
	b = append(b, flag)
	if flag == 0 {
		b = append(b, 1, 'v')
	}
	b = append(b, 1) // register vector: one entry
	b = binary.BigEndian.AppendUint64(b, 0xa)
	b = binary.AppendUvarint(b, counter)
	return append(b, 0, 0, 0, 0) // no cloud, no members, empty set context
}

func TestDecodeObject_rawBuilderMatchesMarshal(t *testing.T) {
	o := &conflict.Object{}
	o.Delete(conflict.Siblings, dt(actA, 3), conflict.Timestamp{Wall: -5, Logical: 2}, conflict.Context{}, conflict.Context{})
	if got := rawOneSibling(3, -5, 2, 1); !bytes.Equal(got, o.Marshal()) {
		t.Fatalf("rawOneSibling = %x, Marshal = %x", got, o.Marshal())
	}
}

// Property 10: non-canonical input is refused with ErrCorrupt.
func TestDecodeObject_refusesNonCanonical(t *testing.T) {
	sib := func(d conflict.Dot, w int64) conflict.Sibling {
		return conflict.Sibling{Dot: d, TS: ts(w), Value: []byte("v")}
	}
	stamp := func(d conflict.Dot) []conflict.Stamp { return []conflict.Stamp{{Dot: d, TS: ts(1)}} }
	valid := func() *conflict.Object {
		o := put(conflict.Siblings, &conflict.Object{}, dt(actA, 1), 10, "v", conflict.Context{})
		o.SetAdd(dt(actA, 2), ts(11), values("x"))
		return o
	}
	validBytes := valid().Marshal()
	tests := map[string][]byte{
		"empty":           nil,
		"badVersion":      append([]byte{2}, validBytes[1:]...),
		"versionZero":     append([]byte{0}, validBytes[1:]...),
		"trailingBytes":   append(bytes.Clone(validBytes), 0),
		"trailingGarbage": append(bytes.Clone(validBytes), "junk"...),
		"unsortedSiblings": (&conflict.Object{Reg: conflict.Register{
			Siblings: []conflict.Sibling{sib(dt(actB, 1), 1), sib(dt(actA, 1), 1)},
			Ctx:      vv(dt(actA, 1), dt(actB, 1)),
		}}).Marshal(),
		"duplicateSibling": (&conflict.Object{Reg: conflict.Register{
			Siblings: []conflict.Sibling{sib(dt(actA, 1), 1), sib(dt(actA, 1), 1)},
			Ctx:      vv(dt(actA, 1)),
		}}).Marshal(),
		"siblingOutsideContext": (&conflict.Object{Reg: conflict.Register{
			Siblings: []conflict.Sibling{sib(dt(actA, 2), 1)},
			Ctx:      vv(dt(actA, 1)),
		}}).Marshal(),
		"siblingWithoutContext": (&conflict.Object{Reg: conflict.Register{
			Siblings: []conflict.Sibling{sib(dt(actA, 1), 1)},
		}}).Marshal(),
		"zeroActor": (&conflict.Object{Reg: conflict.Register{
			Siblings: []conflict.Sibling{sib(dt(0, 1), 1)},
			Ctx:      vv(dt(0, 1)),
		}}).Marshal(),
		"zeroCounterInVector": (&conflict.Object{Reg: conflict.Register{Ctx: vv(dt(actA, 0))}}).Marshal(),
		"unsortedVector":      (&conflict.Object{Reg: conflict.Register{Ctx: vv(dt(actB, 1), dt(actA, 1))}}).Marshal(),
		"duplicateActor":      (&conflict.Object{Reg: conflict.Register{Ctx: vv(dt(actA, 1), dt(actA, 2))}}).Marshal(),
		"cloudCoveredByVector": (&conflict.Object{Reg: conflict.Register{Ctx: conflict.Context{
			VV: conflict.VersionVector{dt(actA, 3)}, Cloud: []conflict.Dot{dt(actA, 2)},
		}}}).Marshal(),
		"unsortedCloud": (&conflict.Object{Set: conflict.ORSet{Ctx: conflict.Context{
			Cloud: []conflict.Dot{dt(actA, 5), dt(actA, 4)},
		}}}).Marshal(),
		"duplicateCloud": (&conflict.Object{Set: conflict.ORSet{Ctx: conflict.Context{
			Cloud: []conflict.Dot{dt(actA, 5), dt(actA, 5)},
		}}}).Marshal(),
		"unsortedMembers": (&conflict.Object{Set: conflict.ORSet{
			Members: []conflict.Member{{Value: []byte("y"), Stamps: stamp(dt(actA, 1))}, {Value: []byte("x"), Stamps: stamp(dt(actA, 1))}},
			Ctx:     vv(dt(actA, 1)),
		}}).Marshal(),
		"duplicateMember": (&conflict.Object{Set: conflict.ORSet{
			Members: []conflict.Member{{Value: []byte("x"), Stamps: stamp(dt(actA, 1))}, {Value: []byte("x"), Stamps: stamp(dt(actA, 1))}},
			Ctx:     vv(dt(actA, 1)),
		}}).Marshal(),
		"memberWithoutAdds": (&conflict.Object{Set: conflict.ORSet{
			Members: []conflict.Member{{Value: []byte("x")}},
			Ctx:     vv(dt(actA, 1)),
		}}).Marshal(),
		"addOutsideSetContext": (&conflict.Object{Set: conflict.ORSet{
			Members: []conflict.Member{{Value: []byte("x"), Stamps: stamp(dt(actA, 2))}},
			Ctx:     vv(dt(actA, 1)),
		}}).Marshal(),
		"addInRegisterContextOnly": (&conflict.Object{
			Reg: conflict.Register{Ctx: vv(dt(actA, 1))},
			Set: conflict.ORSet{Members: []conflict.Member{{Value: []byte("x"), Stamps: stamp(dt(actA, 1))}}},
		}).Marshal(),
		"unsortedAdds": (&conflict.Object{Set: conflict.ORSet{
			Members: []conflict.Member{{Value: []byte("x"), Stamps: append(stamp(dt(actA, 2)), stamp(dt(actA, 1))...)}},
			Ctx:     vv(dt(actA, 2)),
		}}).Marshal(),
		"unknownSiblingFlag":   rawOneSibling(1, 10, 0, 2),
		"logicalOutOfRange":    rawOneSibling(1, 10, math.MaxUint32+1, 1),
		"hugeCount":            binary.AppendUvarint([]byte{1}, math.MaxUint64),
		"nonMinimalCount":      {1, 0x80, 0x00, 0, 0, 0, 0, 0},
		"nonMinimalCounter":    nonMinimal(rawOneSibling(1, 10, 0, 1), 10),
		"nonMinimalWall":       nonMinimal(rawOneSibling(1, 10, 0, 1), 11),
		"varintOverflow":       append([]byte{1}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
		"valueLengthBeyondEnd": func() []byte { b := rawOneSibling(1, 10, 0, 0); b[14] = 100; return b }(),
	}
	if _, err := conflict.DecodeObject(validBytes); err != nil {
		t.Fatalf("the valid base does not decode: %v", err)
	}
	if _, err := conflict.DecodeObject(rawOneSibling(1, 10, 0, 1)); err != nil {
		t.Fatalf("the raw base does not decode: %v", err)
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := conflict.DecodeObject(b)
			if !errors.Is(err, conflict.ErrCorrupt) || o != nil {
				t.Fatalf("DecodeObject(%x) = %v, %v; want nil, ErrCorrupt", b, dump(o), err)
			}
		})
	}
}

// nonMinimal re-encodes the one-byte varint at b[i] in two bytes.
func nonMinimal(b []byte, i int) []byte {
	out := append([]byte{}, b[:i]...)
	out = append(out, b[i]|0x80, 0x00)
	return append(out, b[i+1:]...)
}

// Every strict prefix of an encoding is refused.
func TestDecodeObject_refusesTruncated(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		b := randomObject(rng).Marshal()
		for n := range len(b) {
			if _, err := conflict.DecodeObject(b[:n]); !errors.Is(err, conflict.ErrCorrupt) {
				t.Fatalf("DecodeObject of %d of %d bytes = %v, want ErrCorrupt", n, len(b), err)
			}
		}
	}
}
