package node

import (
	"fmt"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/replication"
)

func TestRefusalReason(t *testing.T) {
	lim := keyspace.Limits{MaxKeyBytes: 1, MaxValueBytes: 1, MaxObjectBytes: 1}
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"nil":          {nil, ""},
		"wrong type":   {fmt.Errorf("put: %w", replication.ErrWrongType), refusedType},
		"key size":     {fmt.Errorf("put: %w", lim.CheckKey([]byte("ab"))), refusedSize},
		"value size":   {lim.CheckValue([]byte("ab")), refusedSize},
		"object size":  {lim.CheckObject(2), refusedSize},
		"fenced":       {&replication.ClockFencedError{Node: "n1"}, refusedClockOffset},
		"clock offset": {fmt.Errorf("apply: %w", conflict.ErrClockOffset), refusedClockOffset},
		"level":        {&replication.QuorumError{}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			if got := refusalReason(tc.err); got != tc.want {
				t.Errorf("refusalReason(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
