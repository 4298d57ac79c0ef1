package main

// checkSiblings checks a register history under the siblings policy, from
// each key's final read (at ALL, after convergence):
//
//   - lost: an acknowledged put whose value is neither in the final read
//     nor causally superseded. A read-modify-write put supersedes the
//     values its get returned, if it took effect: it did if it was
//     acknowledged, and may have if its outcome is unknown, but then only
//     if its own value is in turn present or superseded (a write that
//     vanished explains nothing);
//   - unexpected: a value present finally although an acknowledged
//     read-modify-write read it (it should have been replaced), or a value
//     read (during the run or finally) that no put attempted, or whose put
//     certainly failed.
func checkSiblings(ops []Op) Result {
	var res Result
	puts := map[string]map[string]Op{}
	supersededBy := map[string]map[string][]Op{} // key -> value -> read-modify-writes that read it
	for _, op := range ops {
		if op.F != "put" {
			continue
		}
		if puts[op.Key] == nil {
			puts[op.Key] = map[string]Op{}
			supersededBy[op.Key] = map[string][]Op{}
		}
		puts[op.Key][op.Value] = op
		if op.Of >= 0 && op.Outcome != Fail {
			for _, v := range op.Read {
				supersededBy[op.Key][v] = append(supersededBy[op.Key][v], op)
			}
		}
	}
	final := map[string]map[string]bool{}
	for _, op := range ops {
		if op.F != "get" {
			continue
		}
		if op.Final {
			if op.Outcome != OK {
				res.problem("final read of %s at ALL failed: %s", op.Key, op.Err)
				continue
			}
			final[op.Key] = set(op.Read)
		}
		if op.Outcome != OK {
			continue
		}
		for _, v := range op.Read {
			if p, ok := puts[op.Key][v]; !ok || p.Outcome == Fail {
				res.Unexpected++
				res.problem("unexpected: get %d of %s returned %s: %s", op.ID, op.Key, v, whyUnexpectedValue(puts[op.Key], v))
			}
		}
	}
	for _, k := range sortedKeys(final) {
		f := final[k]
		memo := map[string]bool{}
		// accounted reports whether v is present or superseded by a put
		// that took effect (acknowledged, or accounted itself).
		var accounted func(v string) bool
		accounted = func(v string) bool {
			if a, ok := memo[v]; ok {
				return a
			}
			memo[v] = f[v] // a cycle cannot occur (superseders come later); guard anyway
			a := f[v]
			for _, p := range supersededBy[k][v] {
				if a {
					break
				}
				a = p.Outcome == OK || accounted(p.Value)
			}
			memo[v] = a
			return a
		}
		for _, v := range sortedKeys(puts[k]) {
			p := puts[k][v]
			if p.Outcome == OK && !accounted(v) {
				res.Lost++
				res.problem("lost: put %d of %s = %s acknowledged, but neither in the final read %v nor superseded by a read-modify-write that took effect",
					p.ID, k, v, sortedKeys(f))
			}
			if f[v] {
				for _, s := range supersededBy[k][v] {
					if s.Outcome == OK {
						res.Unexpected++
						res.problem("not superseded: %s = %s is in the final read although read-modify-write %d read it and was acknowledged", k, v, s.ID)
						break
					}
				}
			}
		}
	}
	return res
}
