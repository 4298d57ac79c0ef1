package replication

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Sentinel errors of the request path. The gRPC edge maps them to codes.
var (
	// ErrInvalidArgument wraps every refusal of a malformed request: key or
	// value outside the limits, a bad level, a bad context token.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrWrongType: the key holds the other type live.
	ErrWrongType = errors.New("wrong type")
	// ErrTooManySiblings: the put would leave more siblings than allowed.
	ErrTooManySiblings = errors.New("too many siblings")
	// ErrNotJoined: the node has not joined a cluster yet.
	ErrNotJoined = errors.New("not joined")
	// ErrNoReplicaAlive: no replica of the key can take a request this
	// node does not coordinate.
	ErrNoReplicaAlive = errors.New("no replica available")
	// ErrClockFenced: this node's clock is too far from its peers' for it
	// to stamp writes (DESIGN.md, Clocks), or a replica refused a timestamp
	// it stamped. The gRPC edge forwards a write refused before it was
	// stamped (*ClockFencedError) to a replica that may stamp it; otherwise
	// it fails Unavailable.
	ErrClockFenced = errors.New("clock fenced")
)

// QuorumError reports that a consistency level was not met.
type QuorumError struct {
	Write   bool
	Receipt Receipt
	// Repair is set for a read whose answers were met but whose blocking
	// read repair brought only Holding replicas to the answer.
	Repair  bool
	Holding int
	// Op names the client's operation when it is not a plain read or write:
	// "delete" or "srem", which read first and then write. Empty otherwise.
	Op string
}

// withOp names op in err when err is a *QuorumError, and returns err.
func withOp(err error, op string) error {
	var qe *QuorumError
	if errors.As(err, &qe) {
		qe.Op = op
	}
	return err
}

// Error words the failure as DESIGN.md does, e.g. "QUORUM write: 1 of 2
// required acknowledgements (n2 unreachable, n3 deadline exceeded); applied
// on n1".
func (e *QuorumError) Error() string {
	r := e.Receipt
	op, what := "read", "answers"
	if e.Write {
		op, what = "write", "acknowledgements"
	}
	if e.Op != "" {
		op = e.Op
		if !e.Write {
			what = "answers to its read"
		}
	}
	var b strings.Builder
	if e.Repair {
		fmt.Fprintf(&b, "%s %s: read repair brought %d of %d required replicas up to date", r.Level, op, e.Holding, r.Required)
	} else {
		fmt.Fprintf(&b, "%s %s: %d of %d required %s", r.Level, op, len(r.Acknowledged), r.Required, what)
	}
	var parts []string
	for _, f := range r.Failed {
		parts = append(parts, f.ID+" "+f.Reason)
	}
	// The receipt is as of the answer: a replica pending then may have
	// answered since, so the text does not call it pending now.
	for _, id := range r.Pending {
		parts = append(parts, id+" had not answered yet")
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	switch {
	case !e.Write && e.Op != "":
		b.WriteString("; applied nowhere") // its read failed: nothing written
	case e.Write:
		if len(r.Acknowledged) == 0 {
			b.WriteString("; applied nowhere")
		} else {
			// The coordinator first, then by id: acknowledgements arrive
			// in any order, the text does not change with it.
			on := slices.Clone(r.Acknowledged)
			slices.SortFunc(on, func(a, b string) int {
				switch {
				case a == r.Coordinator:
					return -1
				case b == r.Coordinator:
					return 1
				}
				return strings.Compare(a, b)
			})
			fmt.Fprintf(&b, "; applied on %s", strings.Join(on, ", "))
		}
	}
	return b.String()
}
