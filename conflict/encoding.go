package conflict

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// encodingVersion is the first byte of every encoded object.
const encodingVersion = 1

// ErrCorrupt is wrapped by every decoding error: the bytes are not an
// object (or token) in canonical form.
var ErrCorrupt = errors.New("corrupt encoding")

const flagTombstone = 1

// Marshal returns the binary encoding of o. The encoding is canonical: the
// package keeps siblings, members, stamps and vectors sorted and, under LWW,
// only the winning sibling, so two replicas holding the same object encode
// it to the same bytes. It is what storage keeps, what replicas exchange and
// what digests hash.
func (o *Object) Marshal() []byte { return o.AppendBinary(nil) }

// AppendBinary appends the encoding of o to dst.
func (o *Object) AppendBinary(dst []byte) []byte {
	dst = append(dst, encodingVersion)
	dst = binary.AppendUvarint(dst, uint64(len(o.Reg.Siblings)))
	for i := range o.Reg.Siblings {
		s := &o.Reg.Siblings[i]
		dst = appendDot(dst, s.Dot)
		dst = appendTS(dst, s.TS)
		if s.Tombstone {
			dst = append(dst, flagTombstone)
			continue
		}
		dst = append(dst, 0)
		dst = binary.AppendUvarint(dst, uint64(len(s.Value)))
		dst = append(dst, s.Value...)
	}
	dst = appendContext(dst, o.Reg.Ctx)
	dst = binary.AppendUvarint(dst, uint64(len(o.Set.Members)))
	for i := range o.Set.Members {
		m := &o.Set.Members[i]
		dst = binary.AppendUvarint(dst, uint64(len(m.Value)))
		dst = append(dst, m.Value...)
		dst = binary.AppendUvarint(dst, uint64(len(m.Stamps)))
		for _, st := range m.Stamps {
			dst = appendDot(dst, st.Dot)
			dst = appendTS(dst, st.TS)
		}
	}
	return appendContext(dst, o.Set.Ctx)
}

func appendDot(dst []byte, d Dot) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(d.Actor))
	return binary.AppendUvarint(dst, d.Counter)
}

func appendTS(dst []byte, t Timestamp) []byte {
	dst = binary.AppendVarint(dst, t.Wall)
	return binary.AppendUvarint(dst, uint64(t.Logical))
}

func appendContext(dst []byte, c Context) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(c.VV)))
	for _, d := range c.VV {
		dst = appendDot(dst, d)
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.Cloud)))
	for _, d := range c.Cloud {
		dst = appendDot(dst, d)
	}
	return dst
}

// DecodeObject decodes an object encoded by Marshal. It checks every
// invariant (sorted, no duplicates, every dot covered by its context,
// nothing trailing), so what it accepts re-encodes to the same bytes. The
// result does not alias b.
func DecodeObject(b []byte) (*Object, error) {
	d := decoder{buf: bytes.Clone(b)}
	o := d.object()
	if d.err != nil {
		return nil, fmt.Errorf("%w: object: %w", ErrCorrupt, d.err)
	}
	return o, nil
}

// decoder reads the encoding; the first error sticks and later reads return
// zero values.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 || !d.minimal(n) {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// minimal reports whether the n-byte varint at the head of buf is in its
// shortest form (no trailing zero group), as binary.AppendUvarint and
// AppendVarint write it: binary.Uvarint also accepts longer forms, which
// would not re-encode to the same bytes.
func (d *decoder) minimal(n int) bool { return n == 1 || d.buf[n-1] != 0 }

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 || !d.minimal(n) {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.buf[0]
	d.buf = d.buf[1:]
	return c
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail("truncated")
		return nil
	}
	v := d.buf[:n:n]
	d.buf = d.buf[n:]
	return v
}

// count reads a length and refuses one that the remaining bytes cannot hold
// at minSize bytes per element, so a corrupt count cannot allocate much.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.buf)/minSize) {
		d.fail("count %d exceeds the remaining %d bytes", n, len(d.buf))
		return 0
	}
	return int(n)
}

func (d *decoder) dot() Dot {
	a := d.bytes(8)
	if d.err != nil {
		return Dot{}
	}
	dot := Dot{Actor: ActorID(binary.BigEndian.Uint64(a)), Counter: d.uvarint()}
	if dot.Actor == 0 || dot.Counter == 0 {
		d.fail("zero actor or counter in dot %v", dot)
	}
	return dot
}

func (d *decoder) ts() Timestamp {
	w := d.varint()
	l := d.uvarint()
	if l > 1<<32-1 {
		d.fail("logical clock %d out of range", l)
	}
	return Timestamp{Wall: w, Logical: uint32(l)}
}

const minDotSize = 9 // actor and a one-byte counter

func (d *decoder) context() Context {
	var c Context
	if n := d.count(minDotSize); n > 0 {
		c.VV = make(VersionVector, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			e := d.dot()
			if i > 0 && e.Actor <= c.VV[i-1].Actor {
				d.fail("version vector not sorted")
			}
			c.VV = append(c.VV, e)
		}
	}
	if n := d.count(minDotSize); n > 0 {
		c.Cloud = make([]Dot, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			e := d.dot()
			if i > 0 && e.Compare(c.Cloud[i-1]) <= 0 {
				d.fail("dot cloud not sorted")
			}
			if c.VV.Contains(e) {
				d.fail("dot cloud holds %v, covered by the version vector", e)
			}
			c.Cloud = append(c.Cloud, e)
		}
	}
	return c
}

func (d *decoder) object() *Object {
	if v := d.byte(); d.err == nil && v != encodingVersion {
		d.fail("unknown encoding version %d", v)
	}
	o := &Object{}
	if n := d.count(minDotSize + 3); n > 0 {
		o.Reg.Siblings = make([]Sibling, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			s := Sibling{Dot: d.dot(), TS: d.ts()}
			switch f := d.byte(); f {
			case flagTombstone:
				s.Tombstone = true
			case 0:
				s.Value = d.bytes(d.uvarint())
			default:
				d.fail("unknown sibling flags %d", f)
			}
			if i > 0 && s.Dot.Compare(o.Reg.Siblings[i-1].Dot) <= 0 {
				d.fail("siblings not sorted")
			}
			o.Reg.Siblings = append(o.Reg.Siblings, s)
		}
	}
	o.Reg.Ctx = d.context()
	for _, s := range o.Reg.Siblings {
		if d.err == nil && !o.Reg.Ctx.Contains(s.Dot) {
			d.fail("sibling %v outside the register's context", s.Dot)
		}
	}
	if n := d.count(2); n > 0 {
		o.Set.Members = make([]Member, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			m := Member{Value: d.bytes(d.uvarint())}
			if i > 0 && bytes.Compare(m.Value, o.Set.Members[i-1].Value) <= 0 {
				d.fail("set members not sorted")
			}
			k := d.count(minDotSize + 2)
			if d.err == nil && k == 0 {
				d.fail("set member without adds")
			}
			m.Stamps = make([]Stamp, 0, k)
			for j := 0; j < k && d.err == nil; j++ {
				st := Stamp{Dot: d.dot(), TS: d.ts()}
				if j > 0 && st.Dot.Compare(m.Stamps[j-1].Dot) <= 0 {
					d.fail("set member's adds not sorted")
				}
				m.Stamps = append(m.Stamps, st)
			}
			o.Set.Members = append(o.Set.Members, m)
		}
	}
	o.Set.Ctx = d.context()
	for _, m := range o.Set.Members {
		for _, st := range m.Stamps {
			if d.err == nil && !o.Set.Ctx.Contains(st.Dot) {
				d.fail("set add %v outside the set's context", st.Dot)
			}
		}
	}
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	return o
}
