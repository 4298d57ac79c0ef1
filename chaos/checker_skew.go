package main

import (
	"fmt"
	"slices"
)

// checkFutureRefused checks, for the faults of skew-beyond (a node whose
// clock runs ahead by more than --max-clock-offset), that no other node
// accepted a timestamp that far ahead: a write coordinated by the skewed
// node while it ran skewed, stamped by its clock, must be acknowledged by
// no other replica (each refuses it), so it is never acknowledged at
// QUORUM. It returns how many such writes it checked, and the violations.
func checkFutureRefused(ops []Op, windows []Window) (checked int, problems []string) {
	for _, w := range windows {
		id := ID(w.Node)
		for _, op := range ops {
			if (op.F != "put" && op.F != "sadd") || op.Coordinator != id || op.Invoke < w.Start || op.Complete > w.End {
				continue
			}
			checked++
			var others []string
			for _, a := range op.Acked {
				if a != id {
					others = append(others, a)
				}
			}
			if len(others) > 0 {
				slices.Sort(others)
				problems = append(problems, fmt.Sprintf("%s accepted a timestamp %v ahead of its clock: op %d (%s %s), stamped by %s while its clock was %v ahead",
					others, w.Offset, op.ID, op.F, op.Key, id, w.Offset))
			}
		}
	}
	return checked, problems
}
