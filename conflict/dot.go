package conflict

import (
	"cmp"
	"fmt"
)

// ActorID names a source of dots: a random 64-bit id created with a node's
// data directory and renewed whenever the node lost state. Zero is not a
// valid actor.
type ActorID uint64

// String formats the actor as 16 hex digits.
func (a ActorID) String() string { return fmt.Sprintf("%016x", uint64(a)) }

// Dot names one write: the actor that minted it and the actor's counter.
// Counters start at 1; a dot is never issued twice.
type Dot struct {
	Actor   ActorID
	Counter uint64
}

// String formats the dot as actor:counter.
func (d Dot) String() string { return fmt.Sprintf("%s:%d", d.Actor, d.Counter) }

// Compare orders dots by actor, then counter.
func (d Dot) Compare(o Dot) int {
	if c := cmp.Compare(d.Actor, o.Actor); c != 0 {
		return c
	}
	return cmp.Compare(d.Counter, o.Counter)
}
