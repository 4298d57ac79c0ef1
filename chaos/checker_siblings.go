package main

// checkSiblings checks a register history under the siblings policy:
//
//   - lost: an acknowledged put whose value is missing from its key's
//     final read (at ALL, after convergence) although no read-modify-write
//     that may have taken effect (acknowledged or of unknown outcome) read
//     it: every acknowledged value is present or causally superseded;
//   - unexpected: a value read (during the run or finally) that no put
//     attempted, or whose put certainly failed;
//   - a value present finally although an acknowledged read-modify-write
//     read it (it should have been superseded) is a violation too.
func checkSiblings(ops []Op) Result {
	var res Result
	byID := map[int]Op{}
	for _, op := range ops {
		byID[op.ID] = op
	}
	puts := map[string]map[string]Op{}
	superseded := map[string]map[string][]int{} // key -> value -> puts whose context covered it
	for _, op := range ops {
		if op.F != "put" {
			continue
		}
		if puts[op.Key] == nil {
			puts[op.Key] = map[string]Op{}
			superseded[op.Key] = map[string][]int{}
		}
		puts[op.Key][op.Value] = op
		if op.Of >= 0 && op.Outcome != Fail {
			for _, v := range op.Read {
				superseded[op.Key][v] = append(superseded[op.Key][v], op.ID)
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
		for _, v := range sortedKeys(puts[k]) {
			p := puts[k][v]
			if p.Outcome == OK && !f[v] && len(superseded[k][v]) == 0 {
				res.Lost++
				res.problem("lost: put %d of %s = %s acknowledged, missing from the final read, and no read-modify-write read it", p.ID, k, v)
			}
			if f[v] {
				for _, id := range superseded[k][v] {
					if byID[id].Outcome == OK {
						res.Lost++
						res.problem("not superseded: %s = %s is in the final read although read-modify-write %d read it and was acknowledged", k, v, id)
						break
					}
				}
			}
		}
	}
	return res
}

