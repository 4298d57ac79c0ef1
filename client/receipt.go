package client

import (
	"encoding/json"
	"fmt"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// Receipt tells what happened to one key operation on the replicas. Its
// JSON form is the receipt object of kvctl -o json: lists are never null.
type Receipt struct {
	// Coordinator is the node id of the replica that coordinated the request.
	Coordinator string `json:"coordinator"`
	// Level is the level the request ran at.
	Level Consistency `json:"level"`
	// Required is how many replica answers the level needed (R or W), the
	// coordinator's own included.
	Required int `json:"required"`
	// Acknowledged lists the replicas that acknowledged (writes: stored
	// durably; reads: answered).
	Acknowledged []string `json:"acknowledged"`
	// Failed lists the replicas that were asked and failed, with the reason.
	Failed []ReplicaFailure `json:"failed"`
	// Pending lists the replicas that had not answered when the response was
	// sent; writes to them continue.
	Pending []string `json:"pending"`
	// Applied says whether a write reached durable storage.
	Applied Applied `json:"applied"`
	// ReadRepair is true when the request repaired at least one stale
	// replica.
	ReadRepair bool `json:"read_repair"`
	// HintsWritten counts the hints the coordinator stored for replicas it
	// could not write to.
	HintsWritten int `json:"hints_written"`
}

// ReplicaFailure names a node and why a request to it failed.
type ReplicaFailure struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// MarshalJSON writes the receipt with empty lists as [] rather than null.
func (r Receipt) MarshalJSON() ([]byte, error) {
	type plain Receipt // no methods: no recursion
	p := plain(r)
	p.Acknowledged = nonNil(p.Acknowledged)
	p.Pending = nonNil(p.Pending)
	p.Failed = nonNil(p.Failed)
	return json.Marshal(p)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Applied says, as known when the response was sent, whether a write reached
// the durable storage of the replicas it was sent to.
type Applied int

// The values of Applied.
const (
	// AppliedUnspecified: not a write (a read), or refused before any
	// replica was asked. Nothing was written, so it renders as "none".
	AppliedUnspecified Applied = iota
	// AppliedNone: no replica acknowledged, and none stored the write.
	AppliedNone
	// AppliedPartial: some replicas acknowledged, not all of those asked.
	AppliedPartial
	// AppliedUnknown: no replica acknowledged, but some may have stored the
	// write (they timed out or are still pending).
	AppliedUnknown
	// AppliedAll: every replica asked acknowledged.
	AppliedAll
)

// String returns none, partial, unknown or all (none for
// AppliedUnspecified).
func (a Applied) String() string {
	switch a {
	case AppliedUnspecified, AppliedNone:
		return "none"
	case AppliedPartial:
		return "partial"
	case AppliedUnknown:
		return "unknown"
	case AppliedAll:
		return "all"
	}
	return fmt.Sprintf("Applied(%d)", int(a))
}

// MarshalText renders the value as String does.
func (a Applied) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func receiptFromProto(p *quorumkvv1.Receipt) Receipt {
	r := Receipt{
		Coordinator:  p.GetCoordinator(),
		Level:        consistencyFromProto(p.GetLevel()),
		Required:     int(p.GetRequired()),
		Acknowledged: append([]string{}, p.GetAcknowledged()...),
		Failed:       failuresFromProto(p.GetFailed()),
		Pending:      append([]string{}, p.GetPending()...),
		ReadRepair:   p.GetReadRepair(),
		HintsWritten: int(p.GetHintsWritten()),
	}
	switch p.GetApplied() {
	case quorumkvv1.Applied_APPLIED_NONE:
		r.Applied = AppliedNone
	case quorumkvv1.Applied_APPLIED_PARTIAL:
		r.Applied = AppliedPartial
	case quorumkvv1.Applied_APPLIED_UNKNOWN:
		r.Applied = AppliedUnknown
	case quorumkvv1.Applied_APPLIED_ALL:
		r.Applied = AppliedAll
	}
	return r
}

func failuresFromProto(fs []*quorumkvv1.ReplicaFailure) []ReplicaFailure {
	out := make([]ReplicaFailure, 0, len(fs))
	for _, f := range fs {
		out = append(out, ReplicaFailure{ID: f.GetId(), Reason: f.GetReason()})
	}
	return out
}
