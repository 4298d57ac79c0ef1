package resp

import (
	"context"

	"github.com/quorumkv/quorumkv/replication"
)

// Backend runs the data operations of RESP commands: the replication
// coordinator's operations, wherever the key's replicas are (the node
// forwards a key this node does not replicate, as for the gRPC client
// API). It is called from every connection's goroutine at once; ctx
// carries the connection's verified identity (security.WithIdentity) and
// is cancelled when the server closes. Errors are the coordinator's
// (replication.ErrWrongType, *replication.QuorumError, ...) or, for a
// forwarded request, a gRPC status error with the same message.
type Backend interface {
	Get(ctx context.Context, key []byte, level replication.Level) (replication.ReadResult, error)
	Put(ctx context.Context, key, value, token []byte, level replication.Level) (replication.Receipt, error)
	Delete(ctx context.Context, key []byte, level replication.Level) (replication.Receipt, error)
	SetAdd(ctx context.Context, key []byte, members [][]byte, level replication.Level) (replication.Receipt, error)
	SetRemove(ctx context.Context, key []byte, members [][]byte, level replication.Level) (replication.Receipt, error)
	SetMembers(ctx context.Context, key []byte, level replication.Level) (replication.ReadResult, error)
}

// ClusterInfo answers INFO's cluster and keyspace sections. Its methods
// may be called from any connection's goroutine and must not block long.
type ClusterInfo interface {
	// Members lists the cluster's members, this node included.
	Members() []Member
	// Keys returns the live keys and tombstones this node stores.
	Keys() (keys, tombstones uint64)
}

// Member is one row of INFO's cluster section.
type Member struct {
	ID, GRPCAddr, Liveness, RingState string
	// Ownership is the member's share of the ring (0 to 1).
	Ownership float64
}

// Observer receives the listener's measurements (the node's Prometheus
// metrics). Calls come from every connection's goroutine at once.
type Observer interface {
	// Connections reports a change of the open connections by delta.
	Connections(delta int)
	// Command reports one command: its lower-case name ("unknown" for a
	// command the server does not know), its outcome (see Outcomes) and
	// how long it ran.
	Command(name, outcome string, seconds float64)
}

// Outcomes of commands, as Observer.Command reports them.
const (
	OutcomeOK           = "ok"
	OutcomeInvalid      = "invalid"       // -ERR of a malformed or refused command
	OutcomeWrongType    = "wrong_type"    // -WRONGTYPE
	OutcomeLevelNotMet  = "level_not_met" // -QUORUM
	OutcomeSiblings     = "siblings"      // -SIBLINGS
	OutcomeNotPermitted = "not_permitted" // -NOPERM
	OutcomeOther        = "other"
)

// Outcomes lists every outcome, for metrics created up front.
var Outcomes = []string{OutcomeOK, OutcomeInvalid, OutcomeWrongType, OutcomeLevelNotMet, OutcomeSiblings, OutcomeNotPermitted, OutcomeOther}

type nopObserver struct{}

func (nopObserver) Connections(int)                 {}
func (nopObserver) Command(string, string, float64) {}
