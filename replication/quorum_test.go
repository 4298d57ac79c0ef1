package replication

import (
	"reflect"
	"testing"
)

func TestTally(t *testing.T) {
	replicas := []string{"n1", "n2", "n3"}
	type step struct {
		op, id string // op: send, ack, fail, lost
	}
	tests := map[string]struct {
		required      int
		steps         []step
		met, possible bool
		applied       Applied
	}{
		"quorum met by two acks":              {2, []step{{"send", "n2"}, {"send", "n3"}, {"ack", "n1"}, {"ack", "n2"}}, true, true, AppliedPartial},
		"all acks":                            {3, []step{{"send", "n2"}, {"send", "n3"}, {"ack", "n1"}, {"ack", "n2"}, {"ack", "n3"}}, true, true, AppliedAll},
		"all impossible after a failure":      {3, []step{{"send", "n2"}, {"send", "n3"}, {"ack", "n1"}, {"fail", "n2"}}, false, false, AppliedPartial},
		"quorum still possible while pending": {2, []step{{"send", "n2"}, {"send", "n3"}, {"ack", "n1"}, {"fail", "n2"}}, false, true, AppliedPartial},
		"quorum impossible":                   {2, []step{{"send", "n2"}, {"send", "n3"}, {"ack", "n1"}, {"fail", "n2"}, {"fail", "n3"}}, false, false, AppliedPartial},
		"nothing applied":                     {1, []step{{"send", "n1"}, {"fail", "n1"}}, false, false, AppliedNone},
		"lost reply is unknown":               {1, []step{{"send", "n2"}, {"lost", "n2"}}, false, false, AppliedUnknown},
		"non-replica ack not counted":         {2, []step{{"send", "n4"}, {"ack", "n1"}, {"ack", "n4"}}, false, false, AppliedPartial},
		"duplicate ack counted once":          {2, []step{{"ack", "n1"}, {"ack", "n1"}}, false, false, AppliedPartial},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ta := newTally(replicas, tc.required)
			for _, s := range tc.steps {
				switch s.op {
				case "send":
					ta.send(s.id)
				case "ack":
					ta.ack(s.id)
				case "fail":
					ta.fail(s.id, "unreachable", false)
				case "lost":
					ta.fail(s.id, "reply lost", true)
				}
			}
			if ta.met() != tc.met || ta.possible() != tc.possible || ta.applied() != tc.applied {
				t.Fatalf("met %v possible %v applied %v, want %v %v %v", ta.met(), ta.possible(), ta.applied(), tc.met, tc.possible, tc.applied)
			}
		})
	}
}

func TestTally_receipt(t *testing.T) {
	ta := newTally([]string{"n1", "n2", "n3"}, 2)
	ta.send("n2")
	ta.send("n3")
	ta.ack("n1")
	ta.fail("n2", "unreachable", false)
	r := ta.receipt("n1", Quorum, true)
	want := Receipt{Coordinator: "n1", Level: Quorum, Required: 2, Acknowledged: []string{"n1"},
		Failed: []ReplicaFailure{{"n2", "unreachable"}}, Pending: []string{"n3"}, Applied: AppliedPartial}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	qe := &QuorumError{Write: true, Receipt: r}
	if got := qe.Error(); got != "QUORUM write: 1 of 2 required acknowledgements (n2 unreachable, n3 had not answered yet); applied on n1" {
		t.Fatalf("error: %q", got)
	}
}

func TestTally_writeWhileMoving(t *testing.T) {
	tests := map[string]struct {
		level    Level
		acks     []string
		required int
		met      bool
		applied  Applied
	}{
		"one needs the pending replica too":   {One, []string{"n1"}, 2, false, AppliedPartial},
		"one with the pending replica":        {One, []string{"n1", "n4"}, 2, true, AppliedPartial},
		"quorum counts the pending replica":   {Quorum, []string{"n1", "n2"}, 3, false, AppliedPartial},
		"quorum with the pending replica":     {Quorum, []string{"n1", "n2", "n4"}, 3, true, AppliedPartial},
		"all needs every old and new replica": {All, []string{"n1", "n2", "n3", "n4"}, 4, true, AppliedAll},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ta := newWriteTally([]string{"n1", "n2", "n3"}, []string{"n4"}, tc.level)
			for _, id := range tc.acks {
				ta.ack(id)
			}
			if ta.required != tc.required || ta.met() != tc.met || ta.applied() != tc.applied {
				t.Fatalf("required %d met %v applied %v, want %d %v %v", ta.required, ta.met(), ta.applied(), tc.required, tc.met, tc.applied)
			}
		})
	}
	if ta := newWriteTally([]string{"n1", "n2", "n3"}, nil, Quorum); ta.required != 2 {
		t.Fatalf("no move: required %d, want 2", ta.required)
	}
}
