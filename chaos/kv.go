package main

import (
	"context"
	"errors"
	"strings"

	"github.com/quorumkv/quorumkv/client"
)

// Outcome is how an operation ended, as the client saw it.
type Outcome string

// The outcomes.
const (
	// OK: the operation succeeded.
	OK Outcome = "ok"
	// Fail: the operation certainly did not take effect (refused, or a
	// write that no replica applied).
	Fail Outcome = "fail"
	// Indeterminate: the outcome is unknown (a timeout, a write applied on
	// fewer replicas than its level needed): it may take effect, even later.
	Indeterminate Outcome = "indeterminate"
)

// Level is the consistency level of a key operation.
type Level int

// The levels the workloads use.
const (
	Quorum Level = iota + 1
	All
)

// Reply is what one key operation returned.
type Reply struct {
	Outcome Outcome
	// Found, Values and Token are a read's (Values: register values or set
	// members); Token is a register read's context.
	Found  bool
	Values [][]byte
	Token  []byte
	// Coordinator and Acked come from the receipt, when there is one.
	Coordinator string
	Acked       []string
	// Err is the error of a failed or indeterminate operation.
	Err error
}

// KV is one node's client API, as the workloads use it: the real client
// bound to one node, or an in-process coordinator in the tests.
// Implementations are safe for concurrent use.
type KV interface {
	Get(ctx context.Context, key []byte, level Level) Reply
	// Put writes value; with a token (from Get), it replaces what that read
	// saw.
	Put(ctx context.Context, key, value, token []byte) Reply
	SAdd(ctx context.Context, key, member []byte) Reply
	SMembers(ctx context.Context, key []byte, level Level) Reply
}

// clientKV is KV over the Go client, at QUORUM unless told otherwise.
type clientKV struct{ c *client.Client }

var _ KV = clientKV{}

func level(l Level) client.CallOption {
	if l == All {
		return client.WithConsistency(client.All)
	}
	return client.WithConsistency(client.Quorum)
}

func (k clientKV) Get(ctx context.Context, key []byte, l Level) Reply {
	res, err := k.c.Get(ctx, key, level(l))
	if err != nil {
		return clientFailure(err, false)
	}
	return Reply{Outcome: OK, Found: res.Found, Values: res.Values, Token: res.Context,
		Coordinator: res.Receipt.Coordinator, Acked: res.Receipt.Acknowledged}
}

func (k clientKV) Put(ctx context.Context, key, value, token []byte) Reply {
	opts := []client.CallOption{level(Quorum)}
	if len(token) > 0 {
		opts = append(opts, client.WithContext(token))
	}
	r, err := k.c.Put(ctx, key, value, opts...)
	if err != nil {
		return clientFailure(err, true)
	}
	return Reply{Outcome: OK, Coordinator: r.Coordinator, Acked: r.Acknowledged}
}

func (k clientKV) SAdd(ctx context.Context, key, member []byte) Reply {
	r, err := k.c.SAdd(ctx, key, [][]byte{member}, level(Quorum))
	if err != nil {
		return clientFailure(err, true)
	}
	return Reply{Outcome: OK, Coordinator: r.Coordinator, Acked: r.Acknowledged}
}

func (k clientKV) SMembers(ctx context.Context, key []byte, l Level) Reply {
	res, err := k.c.SMembers(ctx, key, level(l))
	if err != nil {
		return clientFailure(err, false)
	}
	return Reply{Outcome: OK, Found: res.Found, Values: res.Members,
		Coordinator: res.Receipt.Coordinator, Acked: res.Receipt.Acknowledged}
}

// clientFailure classifies a client error. A refusal is a failure. A
// coordinator's answer that the level was not met is a failure for a read
// and, for a write, a failure only if the receipt says no replica applied
// it; otherwise the write may have taken effect. No answer is unknown.
func clientFailure(err error, write bool) Reply {
	r := Reply{Outcome: Indeterminate, Err: err}
	var ce *client.Error
	if errors.As(err, &ce) && ce.Receipt != nil {
		r.Coordinator, r.Acked = ce.Receipt.Coordinator, ce.Receipt.Acknowledged
	}
	switch {
	case errors.Is(err, client.ErrInvalidArgument), errors.Is(err, client.ErrFailedPrecondition), errors.Is(err, client.ErrNotFound):
		r.Outcome = Fail
	case errors.Is(err, client.ErrUnavailable) && ce != nil && ce.Receipt != nil:
		if !write || ce.Receipt.Applied == client.AppliedNone || ce.Receipt.Applied == client.AppliedUnspecified {
			r.Outcome = Fail
		}
	case errors.Is(err, client.ErrNoEndpoint) && refused(err):
		// The node was down: the request was never sent.
		r.Outcome = Fail
	}
	return r
}

// refused reports whether the only endpoint refused the connection: gRPC
// fails such a request before sending it. gRPC says so in words only.
func refused(err error) bool {
	return strings.Contains(err.Error(), "connect: connection refused")
}
