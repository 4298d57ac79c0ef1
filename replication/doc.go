// Package replication owns the request path of a key: the coordinator that
// validates a client request, stamps writes with a dot and a hybrid logical
// timestamp, applies them durably to the key's replicas at the requested
// consistency level, and reports what happened in a Receipt.
//
// Today a cluster has a single replica per key (the node itself): the
// coordinator applies to its own store and every level requires one
// acknowledgement. The fan-out to N replicas, read repair and hinted handoff
// build on the same Coordinator API.
package replication
