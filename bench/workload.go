package bench

import (
	"fmt"
	"strings"
)

// OpKind is one type of operation a workload issues; latencies are kept per
// kind.
type OpKind int

// The operation kinds.
const (
	OpRead   OpKind = iota // Get of an existing key
	OpUpdate               // blind Put of an existing key
	OpInsert               // Put of a new key (workload D)
	OpRMW                  // Get, then Put with the read's context token (workload F)
	OpSAdd                 // SAdd of one member
	numOpKinds
)

var opNames = [numOpKinds]string{"read", "update", "insert", "rmw", "sadd"}

// String returns the kind's name: read, update, insert, rmw or sadd.
func (k OpKind) String() string {
	if k < 0 || k >= numOpKinds {
		return fmt.Sprintf("OpKind(%d)", int(k))
	}
	return opNames[k]
}

// Workload is a mix of operations over a key space. The zero value is not
// a workload; use ParseWorkload or the Workload* variables.
type Workload struct {
	// Name is how users spell it: a, b, c, d, f, write or sadd.
	Name string
	// Mix lists each kind's share of the operations, summing to 1.
	Mix []Share
	// Distribution chooses the keys unless Config.Distribution says
	// otherwise (latest for D, uniform for the others).
	Distribution Distribution
	// Sets is true when the workload works on set keys instead of registers.
	Sets bool
}

// Share is one kind's fraction of a workload's operations.
type Share struct {
	Kind     OpKind
	Fraction float64
}

// The workloads, as YCSB's core workloads define A, B, C, D and F.
var (
	WorkloadA     = Workload{Name: "a", Mix: []Share{{OpRead, 0.5}, {OpUpdate, 0.5}}, Distribution: Uniform}
	WorkloadB     = Workload{Name: "b", Mix: []Share{{OpRead, 0.95}, {OpUpdate, 0.05}}, Distribution: Uniform}
	WorkloadC     = Workload{Name: "c", Mix: []Share{{OpRead, 1}}, Distribution: Uniform}
	WorkloadD     = Workload{Name: "d", Mix: []Share{{OpRead, 0.95}, {OpInsert, 0.05}}, Distribution: Latest}
	WorkloadF     = Workload{Name: "f", Mix: []Share{{OpRead, 0.5}, {OpRMW, 0.5}}, Distribution: Uniform}
	WorkloadWrite = Workload{Name: "write", Mix: []Share{{OpUpdate, 1}}, Distribution: Uniform}
	WorkloadSAdd  = Workload{Name: "sadd", Mix: []Share{{OpSAdd, 1}}, Distribution: Uniform, Sets: true}
)

// Workloads lists every workload, in the order help texts show them.
var Workloads = []Workload{WorkloadA, WorkloadB, WorkloadC, WorkloadD, WorkloadF, WorkloadWrite, WorkloadSAdd}

// WorkloadNames is the allowed spellings, for messages: "a|b|c|d|f|write|sadd".
func WorkloadNames() string {
	names := make([]string, len(Workloads))
	for i, w := range Workloads {
		names[i] = w.Name
	}
	return strings.Join(names, "|")
}

// ParseWorkload returns the workload named s (any case).
func ParseWorkload(s string) (Workload, error) {
	for _, w := range Workloads {
		if strings.EqualFold(strings.TrimSpace(s), w.Name) {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown workload %q: use %s", s, WorkloadNames())
}

// pick returns the kind whose share contains u, a uniform draw in [0, 1).
func (w Workload) pick(u float64) OpKind {
	for _, s := range w.Mix {
		if u < s.Fraction {
			return s.Kind
		}
		u -= s.Fraction
	}
	return w.Mix[len(w.Mix)-1].Kind
}
