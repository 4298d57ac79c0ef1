package client_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/client/clienttest"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

func TestError_mapping(t *testing.T) {
	receipt := &quorumkvv1.Receipt{Coordinator: "n1", Level: quorumkvv1.Consistency_CONSISTENCY_ALL, Required: 3, Acknowledged: []string{"n1"}}
	tests := []struct {
		name    string
		code    codes.Code
		msg     string
		receipt bool
		want    error
	}{
		{"invalid argument", codes.InvalidArgument, "key too large: key is 1025 bytes, the limit is 1024 bytes (--max-key-bytes)", false, client.ErrInvalidArgument},
		{"invalid argument with receipt", codes.InvalidArgument, "bad token", true, client.ErrInvalidArgument},
		{"wrong type", codes.FailedPrecondition, "key holds a set", true, client.ErrFailedPrecondition},
		{"not found", codes.NotFound, "unknown node n9", false, client.ErrNotFound},
		{"permission denied", codes.PermissionDenied, "role read may not write", false, client.ErrPermissionDenied},
		{"unauthenticated", codes.Unauthenticated, "no client certificate", false, client.ErrPermissionDenied},
		{"level not met", codes.Unavailable, "ALL read: 1 of 3 required answers (n2 unreachable, n3 unreachable)", true, client.ErrUnavailable},
		{"not joined", codes.Unavailable, "not joined", true, client.ErrUnavailable},
		{"server deadline with receipt", codes.DeadlineExceeded, "QUORUM write: 1 of 2 required acknowledgements (n2 deadline exceeded); applied on n1", true, client.ErrUnavailable},
		{"unavailable without receipt", codes.Unavailable, "shutting down", false, client.ErrNoEndpoint},
		{"unimplemented", codes.Unimplemented, "unknown method", false, client.ErrOther},
		{"internal with receipt", codes.Internal, "boom", true, client.ErrOther},
	}
	sentinels := []error{client.ErrInvalidArgument, client.ErrFailedPrecondition, client.ErrNotFound, client.ErrPermissionDenied, client.ErrUnavailable, client.ErrNoEndpoint, client.ErrOther}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := clienttest.Start(t, "n1")
			var r *quorumkvv1.Receipt
			if tt.receipt {
				r = receipt
			}
			srv.Fail("", clienttest.StatusError(tt.code, tt.msg, r))
			c := newClient(t, []string{srv.Addr()})
			_, err := c.Get(context.Background(), []byte("k"))
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != errors.Is(s, tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			var ce *client.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%T is not a *client.Error", err)
			}
			if errors.Is(tt.want, client.ErrNoEndpoint) {
				return
			}
			if ce.Message != tt.msg || ce.Code != tt.code {
				t.Errorf("error = %v %q, want %v %q", ce.Code, ce.Message, tt.code, tt.msg)
			}
			if (ce.Receipt != nil) != tt.receipt {
				t.Errorf("receipt = %+v, want present: %v", ce.Receipt, tt.receipt)
			}
			if tt.receipt && (ce.Receipt.Level != client.All || ce.Receipt.Required != 3) {
				t.Errorf("receipt = %+v", ce.Receipt)
			}
		})
	}
}
