package client_test

import (
	"encoding/json"
	"testing"

	"github.com/quorumkv/quorumkv/client"
)

func TestParseConsistency(t *testing.T) {
	tests := []struct {
		in      string
		want    client.Consistency
		wantErr string
	}{
		{"one", client.One, ""},
		{"QUORUM", client.Quorum, ""},
		{"All", client.All, ""},
		{"two", 0, `unknown consistency level "two": use one, quorum or all`},
		{"", 0, `unknown consistency level "": use one, quorum or all`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := client.ParseConsistency(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseConsistency(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestReceipt_MarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		in   client.Receipt
		want string
	}{
		{"zero", client.Receipt{},
			`{"coordinator":"","level":"default","required":0,"acknowledged":[],"failed":[],"pending":[],"applied":"none","read_repair":false,"hints_written":0}`},
		{"full", client.Receipt{Coordinator: "n1", Level: client.Quorum, Required: 2, Acknowledged: []string{"n1"},
			Failed: []client.ReplicaFailure{{ID: "n2", Reason: "unreachable"}}, Pending: []string{"n3"},
			Applied: client.AppliedPartial, ReadRepair: true, HintsWritten: 1},
			`{"coordinator":"n1","level":"quorum","required":2,"acknowledged":["n1"],"failed":[{"id":"n2","reason":"unreachable"}],"pending":["n3"],"applied":"partial","read_repair":true,"hints_written":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
			b, err = json.Marshal(&tt.in) // a pointer marshals the same
			if err != nil || string(b) != tt.want {
				t.Errorf("pointer: got %s, %v", b, err)
			}
		})
	}
}
