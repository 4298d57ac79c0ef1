package resp

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/replication"
)

// errSiblings marks a GET that found concurrent values (--conflict
// siblings): a Redis client expects one value, so it is told to use
// QKV.GET.
type errSiblings struct{ n int }

func (e errSiblings) Error() string { return "" }

// reply returns the Redis error line of a backend error and its outcome.
// The level-not-met line is kvctl's error line after "-QUORUM ".
func reply(err error) (string, string) {
	var (
		qe *replication.QuorumError
		se errSiblings
	)
	switch {
	case errors.As(err, &se):
		return "SIBLINGS " + itoa(se.n) + " values; use QKV.GET", OutcomeSiblings
	case errors.As(err, &qe):
		return "QUORUM " + err.Error(), OutcomeLevelNotMet
	case errors.Is(err, replication.ErrWrongType):
		return wrongType(err.Error()), OutcomeWrongType
	case errors.Is(err, replication.ErrInvalidArgument), errors.Is(err, replication.ErrTooManySiblings):
		return "ERR " + err.Error(), OutcomeInvalid
	case errors.Is(err, context.DeadlineExceeded):
		return "ERR deadline exceeded: " + err.Error(), OutcomeOther
	}
	// A request forwarded to a replica fails with the replica's gRPC
	// status, whose message is the domain error's.
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		msg := st.Message()
		switch st.Code() {
		case codes.InvalidArgument, codes.OutOfRange:
			return "ERR " + msg, OutcomeInvalid
		case codes.FailedPrecondition:
			if strings.HasPrefix(msg, "key holds a ") {
				return wrongType(msg), OutcomeWrongType
			}
			return "ERR " + msg, OutcomeInvalid
		case codes.Unavailable:
			if isQuorumLine(msg) {
				return "QUORUM " + msg, OutcomeLevelNotMet
			}
		case codes.PermissionDenied, codes.Unauthenticated:
			return "NOPERM " + msg, OutcomeNotPermitted
		}
		return "ERR " + msg, OutcomeOther
	}
	return "ERR " + err.Error(), OutcomeOther
}

func wrongType(detail string) string {
	return "WRONGTYPE Operation against a key holding the wrong kind of value (" + detail + ")"
}

// isQuorumLine reports whether msg is a QuorumError's line ("QUORUM
// write: 1 of 2 ...").
func isQuorumLine(msg string) bool {
	for _, l := range []string{"ONE ", "QUORUM ", "ALL "} {
		if strings.HasPrefix(msg, l) {
			return true
		}
	}
	return false
}
