package client

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTLSRefusal(t *testing.T) {
	for name, tc := range map[string]struct {
		msg     string
		usesTLS bool
		kind    error
		want    string
	}{
		"handshake alert": {`connection error: desc = "error reading server preface: remote error: tls: certificate required"`, true,
			ErrPermissionDenied, "ep: TLS handshake refused: remote error: tls: certificate required"},
		"server of another CA": {`connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`, true,
			ErrPermissionDenied, "ep: TLS handshake refused: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		"closed after handshake": {`connection error: desc = "error reading server preface: EOF"`, true,
			ErrPermissionDenied, "refused this client's certificate"},
		"not TLS": {`connection error: desc = "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"`, true,
			errNoAnswer, "ep does not speak TLS"},
		"plain to a TLS node": {`connection error: desc = "error reading server preface: EOF"`, false,
			errNoAnswer, "a node with TLS on closes plain connections"},
		"refused connection": {`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`, true,
			errNoAnswer, "connection refused"},
	} {
		t.Run(name, func(t *testing.T) {
			e := tlsRefusal(fromStatus(status.Error(codes.Unavailable, tc.msg), "ep"), tc.usesTLS)
			if !errors.Is(e, tc.kind) || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("got %v %q, want %v containing %q", e.kind, e.Message, tc.kind, tc.want)
			}
		})
	}
}
