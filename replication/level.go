package replication

import "fmt"

// Level is a consistency level: how many replicas must acknowledge a write
// or answer a read.
type Level uint8

// The levels of DESIGN.md.
const (
	One Level = iota + 1
	Quorum
	All
)

// String returns the level as users write it, upper case.
func (l Level) String() string {
	switch l {
	case One:
		return "ONE"
	case Quorum:
		return "QUORUM"
	case All:
		return "ALL"
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// Required returns how many of n replicas the level needs: ONE = 1,
// QUORUM = n/2+1, ALL = n.
func (l Level) Required(n int) int {
	switch l {
	case One:
		return 1
	case All:
		return n
	}
	return n/2 + 1
}
