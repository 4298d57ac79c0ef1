package node

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// The one translation table: every domain error a client can meet maps to
// the code kvctl turns into its exit status (Unavailable: 3).
func TestToStatus_codes(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want codes.Code
	}{
		"invalid argument":  {fmt.Errorf("key too large: %w", replication.ErrInvalidArgument), codes.InvalidArgument},
		"wrong type":        {replication.ErrWrongType, codes.FailedPrecondition},
		"too many siblings": {replication.ErrTooManySiblings, codes.FailedPrecondition},
		"quorum":            {&replication.QuorumError{Write: true}, codes.Unavailable},
		"not joined":        {fmt.Errorf("put: %w", replication.ErrNotJoined), codes.Unavailable},
		// The ring moved between the client's choice of node and the
		// coordinator's placement: retryable, never Internal.
		"not a replica": {fmt.Errorf("put: %w", &replication.NotReplicaError{Replicas: []string{"n2"}}), codes.Unavailable},
		"no replica":    {fmt.Errorf("%w: no replica of the key is alive", replication.ErrNoReplicaAlive), codes.Unavailable},
		"clock fenced":  {&replication.ClockFencedError{Node: "n3", Reason: "5s ahead"}, codes.Unavailable},
		"clock refused": {fmt.Errorf("%w: n1 refused the write's timestamp", replication.ErrClockFenced), codes.Unavailable},
		// The node is stopping after a failed local durable write: another
		// node takes the request.
		"node stopping":    {fmt.Errorf("refusing writes: %w", storage.ErrFatal), codes.Unavailable},
		"deadline":         {context.DeadlineExceeded, codes.DeadlineExceeded},
		"canceled":         {context.Canceled, codes.Canceled},
		"anything else":    {errors.New("disk on fire"), codes.Internal},
		"already a status": {status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied},
	} {
		t.Run(name, func(t *testing.T) {
			if got := status.Code(toStatus(tc.err, nil)); got != tc.want {
				t.Fatalf("toStatus(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
