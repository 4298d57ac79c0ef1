package ring

import (
	"fmt"
)

// State is a member's place in the ring's life cycle:
// Joining -> Normal -> Leaving -> Left, or any state -> Removed.
//
// The zero value is not a valid state: New refuses it, so a member table
// entry whose state was never set is an error rather than a silent default.
type State uint8

// Ring states, in life-cycle order.
const (
	// Joining members receive writes for the partitions they will replicate
	// (they are in the future view) but are not current replicas.
	Joining State = iota + 1
	// Normal members are current and future replicas.
	Normal
	// Leaving members are still current replicas, handing their partitions
	// off; they are not in the future view.
	Leaving
	// Left members finished leaving; they count nowhere.
	Left
	// Removed members were taken out by an operator; they count nowhere and
	// their id may not come back.
	Removed
)

var stateNames = [...]string{
	Joining: "joining",
	Normal:  "normal",
	Leaving: "leaving",
	Left:    "left",
	Removed: "removed",
}

// String returns the lower-case name of s ("joining", "normal", ...), or
// "State(k)" for a value outside the defined states.
func (s State) String() string {
	if s.valid() {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState returns the State whose String is name. It wraps ErrInvalidMember
// for any other name.
func ParseState(name string) (State, error) {
	for s := Joining; s <= Removed; s++ {
		if stateNames[s] == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown state %q", ErrInvalidMember, name)
}

func (s State) valid() bool { return s >= Joining && s <= Removed }

// current reports whether a member in state s is counted by the current view.
func (s State) current() bool { return s == Normal || s == Leaving }

// future reports whether a member in state s is counted by the future view.
func (s State) future() bool { return s == Normal || s == Joining }
