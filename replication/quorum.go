package replication

import "slices"

// tally is the quorum accounting of one request: which of its replicas
// acknowledged, failed or are still pending, and whether the level is met
// or can no longer be. It is a pure value fed by the coordinator's fan-out
// and tested without a network. Targets that are not among its replicas
// are tracked for the receipt but never count; a write's tally counts the
// nodes its partition moves to among them (newWriteTally).
type tally struct {
	required int
	replicas []string // the key's replicas, in preference order
	acked    []string
	failed   []ReplicaFailure
	pending  []string
	// unknown lists targets whose outcome is unknown: the request may have
	// been applied (a lost reply, a deadline after sending).
	unknown []string
}

func newTally(replicas []string, required int) *tally {
	return &tally{required: required, replicas: replicas}
}

// newWriteTally is the tally of a write to replicas while the partition
// moves to pending: W is counted over replicas and each pending replica
// adds one, its acknowledgement counting like a replica's, so a write
// acknowledged during a move is on the new replicas too.
func newWriteTally(replicas, pending []string, level Level) *tally {
	if len(pending) == 0 {
		return newTally(replicas, level.Required(len(replicas)))
	}
	return newTally(slices.Concat(replicas, pending), level.Required(len(replicas))+len(pending))
}

func (t *tally) isReplica(id string) bool { return slices.Contains(t.replicas, id) }

// send records that a request to id is in flight.
func (t *tally) send(id string) { t.pending = append(t.pending, id) }

func (t *tally) settle(id string) {
	t.pending = slices.DeleteFunc(t.pending, func(s string) bool { return s == id })
}

// ack records a durable acknowledgement (or an answer, for reads) from id.
func (t *tally) ack(id string) {
	t.settle(id)
	if !slices.Contains(t.acked, id) {
		t.acked = append(t.acked, id)
	}
}

// fail records that id failed for reason; indeterminate means it may still
// have applied the request.
func (t *tally) fail(id, reason string, indeterminate bool) {
	t.settle(id)
	t.failed = append(t.failed, ReplicaFailure{ID: id, Reason: reason})
	if indeterminate {
		t.unknown = append(t.unknown, id)
	}
}

// expire records, when the level is not met, that the replicas still
// pending missed the deadline; they may still apply the request. Targets
// that are not replicas stay pending.
func (t *tally) expire() {
	if t.met() {
		return
	}
	for _, id := range append([]string(nil), t.pending...) {
		if t.isReplica(id) {
			t.fail(id, "deadline exceeded", true)
		}
	}
}

// count returns the acknowledgements that count toward the level.
func (t *tally) count() int {
	n := 0
	for _, id := range t.acked {
		if t.isReplica(id) {
			n++
		}
	}
	return n
}

// met reports whether the level is reached.
func (t *tally) met() bool { return t.count() >= t.required }

// possible reports whether the level can still be reached with the replicas
// still pending.
func (t *tally) possible() bool {
	n := t.count()
	for _, id := range t.pending {
		if t.isReplica(id) {
			n++
		}
	}
	return n >= t.required
}

// applied says where a write took effect, as far as the tally knows.
func (t *tally) applied() Applied {
	acked := t.count()
	switch {
	case acked == len(t.replicas) && acked > 0:
		return AppliedAll
	case acked > 0:
		return AppliedPartial
	case len(t.unknown) > 0 || len(t.pending) > 0:
		return AppliedUnknown
	}
	return AppliedNone
}

// receipt renders the tally; lists are copies, never nil.
func (t *tally) receipt(coordinator string, level Level, write bool) Receipt {
	r := Receipt{
		Coordinator:  coordinator,
		Level:        level,
		Required:     t.required,
		Acknowledged: append([]string{}, t.acked...),
		Failed:       append([]ReplicaFailure{}, t.failed...),
		Pending:      append([]string{}, t.pending...),
	}
	if write {
		r.Applied = t.applied()
	}
	return r
}
