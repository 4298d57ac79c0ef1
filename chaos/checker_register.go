package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// regInput is a register operation for porcupine: a write of Value, or a
// read.
type regInput struct {
	Write bool
	Key   string
	Value string
}

// regOutput is what a read returned: the value, "" when not found.
type regOutput struct {
	Value string
}

// registerModel is a single register per key, initially absent (""),
// partitioned by key.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(regInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.Write {
			return true, in.Value
		}
		return output.(regOutput).Value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.Write {
			return fmt.Sprintf("put(%s, %s)", in.Key, in.Value)
		}
		v := output.(regOutput).Value
		if v == "" {
			v = "not found"
		}
		return fmt.Sprintf("get(%s) -> %s", in.Key, v)
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "absent"
		}
		return state.(string)
	},
}

// porcupineHistory turns register ops into porcupine operations: a put
// that certainly failed is left out; one of unknown outcome may take effect
// any time after its invocation (it never returns); reads that did not
// succeed are left out. Client ids are renumbered from 0.
func porcupineHistory(ops []Op) []porcupine.Operation {
	var out []porcupine.Operation
	var end int64
	for _, op := range ops {
		end = max(end, op.Complete)
	}
	clients := map[int]int{}
	client := func(p int) int {
		if id, ok := clients[p]; ok {
			return id
		}
		clients[p] = len(clients)
		return clients[p]
	}
	for _, op := range ops {
		switch {
		case op.F == "put" && op.Outcome == OK:
			out = append(out, porcupine.Operation{ClientId: client(op.Process), Input: regInput{Write: true, Key: op.Key, Value: op.Value},
				Call: op.Invoke, Output: regOutput{}, Return: op.Complete, Metadata: op.ID})
		case op.F == "put" && op.Outcome == Indeterminate:
			out = append(out, porcupine.Operation{ClientId: client(op.Process), Input: regInput{Write: true, Key: op.Key, Value: op.Value},
				Call: op.Invoke, Output: regOutput{}, Return: end + int64(time.Hour), Metadata: op.ID})
		case op.F == "get" && op.Outcome == OK:
			v := ""
			if len(op.Read) > 0 {
				v = op.Read[0]
			}
			out = append(out, porcupine.Operation{ClientId: client(op.Process), Input: regInput{Key: op.Key},
				Call: op.Invoke, Output: regOutput{Value: v}, Return: op.Complete, Metadata: op.ID})
		}
	}
	return out
}

// checkRegister checks a register history under lww:
//
//   - a get returns at most one value (lww keeps no siblings), and only a
//     value some put attempted and did not certainly fail (else
//     unexpected);
//   - without clock skew, the history is linearizable (porcupine, within
//     opts.LinearizabilityTimeout; a timeout is a failure); on a violation
//     the visualization is written to opts.OutDir/register.html;
//   - in every run, no get that starts after an acknowledged
//     read-modify-write completed returns a value that read-modify-write
//     read (it superseded them: a context beats clocks);
//   - lost: a final value that an acknowledged write should have replaced
//     (a write that started after the final value's write had completed,
//     without skew; under skew, one that read it before replacing it).
func checkRegister(ops []Op, opts CheckOptions) Result {
	var res Result
	puts := map[string]map[string]Op{} // key -> value -> put
	for _, op := range ops {
		if op.F == "put" {
			if puts[op.Key] == nil {
				puts[op.Key] = map[string]Op{}
			}
			puts[op.Key][op.Value] = op
		}
	}
	var gets []Op
	final := map[string]Op{}
	for _, op := range ops {
		if op.F != "get" || op.Outcome != OK {
			if op.F == "get" && op.Final {
				res.problem("final read of %s at ALL failed: %s", op.Key, op.Err)
			}
			continue
		}
		gets = append(gets, op)
		if op.Final {
			final[op.Key] = op
		}
		if len(op.Read) > 1 {
			res.problem("get %d of %s returned %d values under lww: %v", op.ID, op.Key, len(op.Read), op.Read)
		}
		for _, v := range op.Read {
			if p, ok := puts[op.Key][v]; !ok || p.Outcome == Fail {
				res.Unexpected++
				res.problem("unexpected: get %d of %s returned %s: %s", op.ID, op.Key, v, whyUnexpectedValue(puts[op.Key], v))
			}
		}
	}

	// Read-modify-writes supersede what they read.
	for _, p := range ops {
		if p.F != "put" || p.Of < 0 || p.Outcome != OK || len(p.Read) == 0 {
			continue
		}
		read := set(p.Read)
		for _, g := range gets {
			if g.Key != p.Key || g.Invoke <= p.Complete {
				continue
			}
			for _, v := range g.Read {
				if read[v] {
					res.problem("read-modify-write %d of %s (read %v, wrote %s) lost: get %d, started after it was acknowledged, returned %s",
						p.ID, p.Key, p.Read, p.Value, g.ID, v)
					if g.Final {
						res.Lost++
					}
				}
			}
		}
	}

	// Lost writes, against the final values.
	if !opts.Skewed {
		for _, k := range sortedKeys(final) {
			f := final[k]
			var fromEnd int64 = -1 // when the final value's write completed
			if len(f.Read) == 1 {
				if p, ok := puts[k][f.Read[0]]; ok && p.Outcome == OK {
					fromEnd = p.Complete
				}
			}
			for _, v := range sortedKeys(puts[k]) {
				p := puts[k][v]
				if p.Outcome != OK || (len(f.Read) == 1 && f.Read[0] == v) {
					continue
				}
				if len(f.Read) == 0 || (fromEnd >= 0 && p.Invoke > fromEnd) {
					res.Lost++
					res.problem("lost: put %d of %s = %s acknowledged, but the final value is %v, written before it started", p.ID, k, v, f.Read)
				}
			}
		}
	}

	if opts.Skewed {
		res.Notes = append(res.Notes, "clocks skewed: linearizability not checked; read-modify-writes checked")
		return res
	}
	timeout := opts.LinearizabilityTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	hist := porcupineHistory(ops)
	verdict, info := porcupine.CheckOperationsVerbose(registerModel, hist, timeout)
	switch verdict {
	case porcupine.Ok:
		res.Notes = append(res.Notes, fmt.Sprintf("linearizable (%d operations)", len(hist)))
	case porcupine.Unknown:
		res.problem("linearizability unknown: porcupine timed out after %v (%d operations)", timeout, len(hist))
	default:
		msg := fmt.Sprintf("not linearizable (%d operations)%s", len(hist), illegalKeys(hist, timeout))
		if opts.OutDir != "" {
			path := filepath.Join(opts.OutDir, "register.html")
			if err := writeVisualization(info, path); err != nil {
				msg += fmt.Sprintf("; visualization failed: %v", err)
			} else {
				msg += "; see " + path
			}
		}
		res.problem("%s", msg)
	}
	return res
}

// illegalKeys names the keys whose histories are not linearizable (each
// checked alone).
func illegalKeys(hist []porcupine.Operation, timeout time.Duration) string {
	var keys []string
	for _, part := range registerModel.Partition(hist) {
		if porcupine.CheckOperationsTimeout(registerModel, part, timeout) == porcupine.Illegal {
			keys = append(keys, part[0].Input.(regInput).Key)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	return ": key " + strings.Join(keys, ", ")
}

func writeVisualization(info porcupine.LinearizationInfo, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return porcupine.VisualizePath(registerModel, info, path)
}

func whyUnexpectedValue(puts map[string]Op, v string) string {
	if p, ok := puts[v]; ok {
		return fmt.Sprintf("its put (op %d) failed: %s", p.ID, p.Err)
	}
	return "never written"
}
