package main

import (
	"fmt"
	"slices"
)

// checkSet checks a set history: unique members added with sadd, read
// with smembers during the run and, finally, at ALL after convergence.
//
//   - lost: an acknowledged add missing from its key's final read;
//   - unexpected: a member read (during the run or finally) that no add
//     attempted, or whose add certainly failed;
//   - recovered (reported, not a violation): an add of unknown outcome
//     present finally;
//   - stale read: a QUORUM read missing a member whose add was
//     acknowledged before the read started (freshness), or that an
//     earlier read already returned (a QUORUM read's repair makes what it
//     returns durable on a quorum).
//
// A key whose final read failed is a violation.
func checkSet(ops []Op) Result {
	var res Result
	adds := map[string]map[string]Op{} // key -> member -> sadd
	final := map[string]map[string]bool{}
	var reads []Op
	finalTried := map[string]bool{}
	for _, op := range ops {
		switch {
		case op.F == "sadd":
			if adds[op.Key] == nil {
				adds[op.Key] = map[string]Op{}
			}
			adds[op.Key][op.Value] = op
		case op.F == "smembers" && op.Final:
			finalTried[op.Key] = true
			if op.Outcome == OK {
				final[op.Key] = set(op.Read)
			}
		case op.F == "smembers" && op.Outcome == OK:
			reads = append(reads, op)
		}
	}
	for k := range finalTried {
		if final[k] == nil {
			res.problem("final read of %s at ALL failed", k)
		}
	}
	keys := sortedKeys(adds)
	for _, k := range keys {
		f, ok := final[k]
		if !ok {
			if !finalTried[k] {
				res.problem("no final read of %s", k)
			}
			continue
		}
		for _, m := range sortedKeys(adds[k]) {
			op := adds[k][m]
			switch {
			case op.Outcome == OK && !f[m]:
				res.Lost++
				res.problem("lost: %s member %s acknowledged (op %d) but missing from the final read", k, m, op.ID)
			case op.Outcome == Indeterminate && f[m]:
				res.Recovered++
			}
		}
		for _, m := range sortedKeys(f) {
			if unexpectedMember(adds[k], m) {
				res.Unexpected++
				res.problem("unexpected: %s member %s in the final read: %s", k, m, whyUnexpected(adds[k], m))
			}
		}
	}
	for k, f := range final {
		if adds[k] == nil {
			for m := range f {
				res.Unexpected++
				res.problem("unexpected: %s member %s in the final read of a key never written", k, m)
			}
		}
	}
	// Reads during the run.
	byKey := map[string][]Op{}
	for _, r := range reads {
		byKey[r.Key] = append(byKey[r.Key], r)
	}
	stale := 0
	for _, k := range sortedKeys(byKey) {
		rs := byKey[k]
		for _, r := range rs {
			got := set(r.Read)
			for _, m := range r.Read {
				if unexpectedMember(adds[k], m) {
					res.Unexpected++
					res.problem("unexpected: %s member %s read by op %d: %s", k, m, r.ID, whyUnexpected(adds[k], m))
				}
			}
			for _, m := range sortedKeys(adds[k]) {
				a := adds[k][m]
				if a.Outcome == OK && a.Complete < r.Invoke && !got[m] {
					stale++
					if stale <= 10 {
						res.problem("stale read: op %d read %s at QUORUM without %s, acknowledged before it started (op %d)", r.ID, k, m, a.ID)
					}
				}
			}
			for _, earlier := range rs {
				if earlier.Complete >= r.Invoke {
					continue
				}
				for _, m := range earlier.Read {
					if !got[m] {
						stale++
						if stale <= 10 {
							res.problem("stale read: op %d read %s at QUORUM without %s, which op %d had returned before it started", r.ID, k, m, earlier.ID)
						}
					}
				}
			}
		}
	}
	if stale > 10 {
		res.problem("%d stale reads in all", stale)
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d adds of unknown outcome recovered", res.Recovered))
	return res
}

// unexpectedMember reports whether m, read, was never added or only by an
// add that certainly failed.
func unexpectedMember(adds map[string]Op, m string) bool {
	a, ok := adds[m]
	return !ok || a.Outcome == Fail
}

func whyUnexpected(adds map[string]Op, m string) string {
	if a, ok := adds[m]; ok {
		return fmt.Sprintf("its add (op %d) failed: %s", a.ID, a.Err)
	}
	return "never added"
}

func set(vs []string) map[string]bool {
	out := make(map[string]bool, len(vs))
	for _, v := range vs {
		out[v] = true
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
