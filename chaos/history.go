package main

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"sync"
	"time"
)

// Op is one operation of a history, from its invocation to its completion.
type Op struct {
	// ID numbers the operations of a history from 0, in invocation order.
	ID int `json:"id"`
	// Process is the worker that issued it (porcupine's client id).
	Process int `json:"process"`
	// F is the function: get, put, sadd, smembers.
	F   string `json:"f"`
	Key string `json:"key"`
	// Value is the value a put writes or the member an sadd adds.
	Value string `json:"value,omitempty"`
	// Of, for a put with a context (a read-modify-write), is the ID of the
	// get whose context it carries; -1 for a blind put.
	Of int `json:"of"`
	// Read are the values a get or smembers returned; for a put with a
	// context, the values its get returned (what it supersedes).
	Read  []string `json:"read,omitempty"`
	Found bool     `json:"found,omitempty"`
	// Node is the node the request was sent to (0-based).
	Node        int      `json:"node"`
	Coordinator string   `json:"coordinator,omitempty"`
	Acked       []string `json:"acked,omitempty"`
	// Invoke and Complete are nanoseconds since the run started.
	Invoke   int64   `json:"invoke_ns"`
	Complete int64   `json:"complete_ns"`
	Outcome  Outcome `json:"outcome"`
	Err      string  `json:"error,omitempty"`
	// Final marks the reads the checkers make after the run.
	Final bool `json:"final,omitempty"`
}

// Event is a nemesis action.
type Event struct {
	// Time is nanoseconds since the run started.
	Time int64 `json:"time_ns"`
	// Kind is start, heal or error.
	Kind string `json:"kind"`
	What string `json:"what"`
}

// History records the operations and nemesis events of a run. Safe for
// concurrent use.
type History struct {
	start time.Time

	mu     sync.Mutex
	ops    []Op
	events []Event
	nextID int
}

// NewHistory starts a history now.
func NewHistory() *History { return &History{start: time.Now()} }

// Since is the time since the run started, in nanoseconds.
func (h *History) Since() int64 { return int64(time.Since(h.start)) }

// Time is the wall time of t nanoseconds into the run.
func (h *History) Time(t int64) time.Time { return h.start.Add(time.Duration(t)) }

// Invoke returns op with its ID and invocation time set.
func (h *History) Invoke(op Op) Op {
	h.mu.Lock()
	op.ID = h.nextID
	h.nextID++
	h.mu.Unlock()
	op.Invoke = h.Since()
	return op
}

// Complete records op with reply r, now.
func (h *History) Complete(op Op, r Reply) Op {
	op.Complete = h.Since()
	op.Outcome = r.Outcome
	op.Coordinator, op.Acked = r.Coordinator, r.Acked
	if r.Err != nil {
		op.Err = r.Err.Error()
	}
	if op.F == "get" || op.F == "smembers" {
		op.Found = r.Found
		op.Read = strs(r.Values)
	}
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
	return op
}

// Event records a nemesis event now.
func (h *History) Event(kind, what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, Event{Time: h.Since(), Kind: kind, What: what})
}

// Ops returns the operations, by ID.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.ops)
	slices.SortFunc(out, func(a, b Op) int { return a.ID - b.ID })
	return out
}

// Events returns the nemesis events in order.
func (h *History) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// WriteFile writes the history as JSON lines, operations and events by
// time, each line with "type": "op" or "nemesis".
func (h *History) WriteFile(path string) error {
	type line struct {
		Type string `json:"type"`
		*Op
		*Event
	}
	var lines []line
	at := []int64{}
	for _, op := range h.Ops() {
		lines = append(lines, line{Type: "op", Op: &op})
		at = append(at, op.Invoke)
	}
	for _, ev := range h.Events() {
		lines = append(lines, line{Type: "nemesis", Event: &ev})
		at = append(at, ev.Time)
	}
	idx := make([]int, len(lines))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case at[a] < at[b]:
			return -1
		case at[a] > at[b]:
			return 1
		}
		return 0
	})
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, i := range idx {
		if err := enc.Encode(lines[i]); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// strs converts values to strings.
func strs(vs [][]byte) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}
