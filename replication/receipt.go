package replication

// Applied says where a write took effect.
type Applied uint8

// The values of Receipt.Applied.
const (
	// AppliedNone: no replica applied the write.
	AppliedNone Applied = iota + 1
	// AppliedPartial: some replicas applied it, fewer than all.
	AppliedPartial
	// AppliedUnknown: a replica may have applied it without answering.
	AppliedUnknown
	// AppliedAll: every replica applied it.
	AppliedAll
)

// String returns the JSON spelling: none, partial, unknown or all.
func (a Applied) String() string {
	switch a {
	case AppliedNone:
		return "none"
	case AppliedPartial:
		return "partial"
	case AppliedUnknown:
		return "unknown"
	case AppliedAll:
		return "all"
	}
	return ""
}

// ReplicaFailure names a replica that did not acknowledge and why.
type ReplicaFailure struct {
	ID     string
	Reason string
}

// Receipt reports what a request did on which replicas. Every response
// carries one, failed ones too.
type Receipt struct {
	// Coordinator is the node that coordinated the request.
	Coordinator string
	Level       Level
	// Required is how many replicas the level needed.
	Required int
	// Acknowledged lists the replicas that acknowledged or answered.
	Acknowledged []string
	// Failed lists the replicas that failed, with the reason.
	Failed []ReplicaFailure
	// Pending lists replicas still in flight when the client was answered.
	Pending []string
	// Applied is set for writes; zero for reads.
	Applied Applied
	// ReadRepair reports whether read repair ran.
	ReadRepair bool
	// HintsWritten counts hints stored for replicas that missed the write.
	HintsWritten int
}
