// Package client is the Go client of quorumkv's client API (service KV in
// proto/quorumkv/v1/kv.proto). kvctl, bench and chaos use it; applications
// may too.
//
// A Client is built from a list of node endpoints (gRPC host:port). It sends
// every request to one endpoint, the first that answers, and sticks to it;
// when that endpoint does not answer (connection failure, UNAVAILABLE without
// a receipt, or no answer before the per-request timeout) the request is
// tried on the next endpoint in turn. An endpoint that answers with an error
// is not retried elsewhere: the error is the cluster's answer.
//
// With WithTokenAware (for long-lived clients: bench, chaos, applications;
// kvctl does not use it) the client also learns the partition table and
// sends each key operation to a replica of its key first, saving the
// forwarding hop; it falls back to the key's other replicas, then to the
// endpoints, under the same rules, so results and errors do not change.
//
// Every key operation reports a Receipt: which replicas acknowledged, which
// failed and why, whether read repair ran and how many hints were written.
// A failed operation returns an *Error that carries the receipt when the
// request reached a coordinator; match it with errors.Is against the sentinel
// errors (ErrInvalidArgument, ErrUnavailable, ...) and read it with
// errors.As.
//
// Options given to New set client-wide defaults; the same consistency and
// timeout options given to a single call override them for that call:
//
//	c, err := client.New([]string{"127.0.0.1:7001"}, client.WithConsistency(client.Quorum))
//	...
//	res, err := c.Get(ctx, []byte("k"), client.WithConsistency(client.One))
//
// A Client is safe for concurrent use. Close releases its connections.
package client
