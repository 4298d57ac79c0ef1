package storagetest

import "github.com/quorumkv/quorumkv/conflict"

// Actors used by the builders; any non-zero ids would do.
const (
	ActorA conflict.ActorID = 0xa
	ActorB conflict.ActorID = 0xb
)

// Register returns an object holding value as one sibling stamped with
// dot (actor, counter) at wall time wall, written blind.
func Register(actor conflict.ActorID, counter uint64, wall int64, value string) *conflict.Object {
	o := &conflict.Object{}
	o.Put(conflict.LWW, conflict.Dot{Actor: actor, Counter: counter}, conflict.Timestamp{Wall: wall}, []byte(value), conflict.Context{})
	return o
}

// Tombstone returns an object holding only a tombstone that replaced
// everything up to (actor, counter-1).
func Tombstone(actor conflict.ActorID, counter uint64, wall int64) *conflict.Object {
	o := &conflict.Object{}
	ctx := conflict.Context{}
	if counter > 1 {
		ctx.VV = conflict.VersionVector{{Actor: actor, Counter: counter - 1}}
	}
	o.Delete(conflict.LWW, conflict.Dot{Actor: actor, Counter: counter}, conflict.Timestamp{Wall: wall}, ctx, conflict.Context{})
	return o
}

// Set returns an object whose set part holds members, added under one dot.
func Set(actor conflict.ActorID, counter uint64, wall int64, members ...string) *conflict.Object {
	o := &conflict.Object{}
	ms := make([][]byte, len(members))
	for i, m := range members {
		ms[i] = []byte(m)
	}
	o.SetAdd(conflict.Dot{Actor: actor, Counter: counter}, conflict.Timestamp{Wall: wall}, ms)
	return o
}
