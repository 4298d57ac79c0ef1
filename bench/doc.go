// Package bench is quorumkv's load harness, behind `kvctl bench` and
// `make bench`: the YCSB core workloads (A, B, C, D, F) plus put-only and
// set-add workloads, key choosers (uniform, zipfian, latest), a runner with
// a closed loop (each client issues its next operation when the last one
// answers) and an open loop at a fixed rate whose latencies are measured
// from each operation's intended start (no coordinated omission, as wrk2),
// HdrHistogram latencies per operation type, errors counted by kind, and
// reports: an aligned table, JSON, Go benchmark format and an SVG plot.
//
// It reaches a cluster through a Store; ClientStore adapts the Go client in
// client/ (token-aware when the caller builds it so).
package bench
