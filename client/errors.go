package client

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// Sentinel errors. Every error a request returns is an *Error that matches
// exactly one of them with errors.Is.
var (
	// ErrInvalidArgument: the request was refused as malformed (key or value
	// outside the limits, a bad context token, an unknown level, ...).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrFailedPrecondition: the request is well-formed but the key's or the
	// cluster's state refuses it (the key holds the other type, too many
	// siblings, leaving would drop below N nodes, ...).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrNotFound: the request names something that does not exist (Remove
	// of an unknown node). A missing key is not an error: Get and SMembers
	// report Found == false.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: a coordinator answered but the consistency level was
	// not met, or the node has not joined a cluster. The *Error carries the
	// receipt.
	ErrUnavailable = errors.New("consistency level not met")
	// ErrPermissionDenied: the node refused the caller: no or a wrong
	// certificate, or a role without the right (PERMISSION_DENIED,
	// UNAUTHENTICATED).
	ErrPermissionDenied = errors.New("not permitted")
	// ErrNoEndpoint: no endpoint (nor, with WithTokenAware, replica of the
	// key) answered in time.
	ErrNoEndpoint = errors.New("no endpoint answered")
	// ErrOther: anything else (UNIMPLEMENTED, INTERNAL, a canceled context,
	// ...).
	ErrOther = errors.New("request failed")
)

// errNoAnswer marks an attempt on one endpoint that got no answer: the
// request moves on to the next endpoint. It never leaves the package.
var errNoAnswer = errors.New("endpoint did not answer")

// Error is a failed request.
type Error struct {
	// Code is the gRPC status code of the failure (of the last attempt for
	// ErrNoEndpoint).
	Code codes.Code
	// Message is the one-line human error, as the server worded it.
	Message string
	// Receipt is what happened on the replicas; nil when the request did not
	// reach a coordinator.
	Receipt *Receipt
	// Endpoint is the address that answered with the error: an endpoint,
	// or with WithTokenAware the replica a key operation was sent to;
	// empty for ErrNoEndpoint.
	Endpoint string

	kind  error // one of the sentinels
	cause error // optional underlying error, for Unwrap
	// notGRPC marks an attempt on an address that answered but does not
	// speak gRPC (a gossip or metrics port, say).
	notGRPC bool
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Is matches the error's sentinel (ErrInvalidArgument, ...).
func (e *Error) Is(target error) bool { return target == e.kind }

// Unwrap returns the underlying error, if any (context.Canceled for a
// canceled request, the per-endpoint errors for ErrNoEndpoint).
func (e *Error) Unwrap() error { return e.cause }

// errorClass is a row key of the translation table: a status code and
// whether the status carried a receipt (the request reached a coordinator).
type errorClass struct {
	code       codes.Code
	hasReceipt bool
}

// errorKinds is the one translation table from gRPC status to sentinel.
// Codes not listed are ErrOther.
var errorKinds = map[errorClass]error{
	{codes.InvalidArgument, false}:    ErrInvalidArgument,
	{codes.InvalidArgument, true}:     ErrInvalidArgument,
	{codes.FailedPrecondition, false}: ErrFailedPrecondition,
	{codes.FailedPrecondition, true}:  ErrFailedPrecondition,
	{codes.NotFound, false}:           ErrNotFound,
	{codes.NotFound, true}:            ErrNotFound,
	{codes.PermissionDenied, false}:   ErrPermissionDenied,
	{codes.PermissionDenied, true}:    ErrPermissionDenied,
	{codes.Unauthenticated, false}:    ErrPermissionDenied,
	{codes.Unauthenticated, true}:     ErrPermissionDenied,
	// A coordinator answered: the level was not met (or "not joined").
	{codes.Unavailable, true}:      ErrUnavailable,
	{codes.DeadlineExceeded, true}: ErrUnavailable,
	// No coordinator answered: try the next endpoint.
	{codes.Unavailable, false}:      errNoAnswer,
	{codes.DeadlineExceeded, false}: errNoAnswer,
}

// dialErrorPrefix starts grpc-go's message for a failed connection; the rest
// ("dial tcp ...: connection refused") says it better alone.
const dialErrorPrefix = `connection error: desc = "transport: Error while dialing: `

// fromStatus translates the error of one attempt on endpoint.
func fromStatus(err error, endpoint string) *Error {
	st, _ := status.FromError(err) // codes.Unknown for a non-status error
	var receipt *Receipt
	for _, d := range st.Details() {
		if p, ok := d.(*quorumkvv1.Receipt); ok {
			r := receiptFromProto(p)
			receipt = &r
			break
		}
	}
	kind, ok := errorKinds[errorClass{st.Code(), receipt != nil}]
	if !ok {
		kind = ErrOther
	}
	msg := strings.TrimPrefix(st.Message(), dialErrorPrefix)
	if len(msg) < len(st.Message()) {
		msg = strings.TrimSuffix(msg, `"`)
	}
	if msg == "" {
		msg = st.Code().String()
	}
	if receipt == nil && notGRPC(msg) {
		// Something listens there, but not a quorumkv node's gRPC: say so
		// rather than pass on the transport's words alone, and try the
		// next endpoint.
		detail := strings.TrimSuffix(strings.TrimPrefix(msg, connErrorPrefix), `"`)
		return &Error{Code: st.Code(), Message: oneLine(endpoint + " is not a quorumkv gRPC endpoint (" + detail + ")"),
			Endpoint: endpoint, kind: errNoAnswer, cause: err, notGRPC: true}
	}
	return &Error{Code: st.Code(), Message: oneLine(msg), Receipt: receipt, Endpoint: endpoint, kind: kind, cause: err}
}

// connErrorPrefix starts grpc-go's message for a connection that failed
// after it was established.
const connErrorPrefix = `connection error: desc = "`

// notGRPCSigns are parts of grpc-go's messages for a peer that accepted the
// connection but is not a quorumkv node's gRPC: it sent no HTTP/2 server
// preface (an HTTP/1.1 server, memberlist's TCP listener), it answered
// HTTP/2 that is not gRPC, or it is a gRPC server without the KV service.
var notGRPCSigns = []string{
	"error reading server preface",
	// A listener that reads a byte and hangs up (memberlist's TCP port)
	// may close before the client preface is written whole. A node's
	// gRPC listener never closes a connection it accepted mid-preface.
	"write: broken pipe",
	"write: connection reset by peer",
	"connection closed before server preface received",
	"transport: received unexpected content-type",
	"malformed header: missing HTTP content-type",
	"unknown service " + quorumkvv1.KV_ServiceDesc.ServiceName,
}

func notGRPC(msg string) bool {
	for _, s := range notGRPCSigns {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// tlsRefusal rewords the failed connection of an attempt that TLS refused:
// with TLS on, a handshake that failed, or a connection the node closed
// right after it (a node refuses a client certificate that way), is
// ErrPermissionDenied; without TLS, a node that closes the plain
// connection is still no answer, with a hint that it may require TLS.
func tlsRefusal(e *Error, usesTLS bool) *Error {
	if e == nil || e.Receipt != nil || (e.Code != codes.Unavailable && e.Code != codes.Unknown) {
		return e
	}
	msg := e.Message
	switch {
	case !usesTLS:
		if e.notGRPC && (strings.Contains(msg, "EOF") || strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset")) {
			e.Message = strings.TrimSuffix(msg, ")") + "; a node with TLS on closes plain connections: connect with the cluster's CA and a client certificate)"
		}
		return e
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		e.Message = e.Endpoint + " does not speak TLS (" + msg + ")"
		return e
	case strings.Contains(msg, "tls: ") || strings.Contains(msg, "x509: "):
		e.Message = e.Endpoint + ": TLS handshake refused: " + transportDetail(e.cause)
	case e.notGRPC:
		e.Message = e.Endpoint + " closed the connection after the TLS handshake: it refused this client's certificate (none, another CA's, or expired)"
	default:
		return e
	}
	e.Code, e.kind, e.notGRPC = codes.PermissionDenied, ErrPermissionDenied, false
	return e
}

// transportDetail is the gist of grpc-go's message for a failed
// connection, without its layers of prefixes and quoting.
func transportDetail(err error) string {
	m := status.Convert(err).Message()
	m = strings.TrimSuffix(strings.TrimPrefix(m, connErrorPrefix), `"`)
	for _, p := range []string{"transport: authentication handshake failed: ", "transport: Error while dialing: ", "error reading server preface: "} {
		m = strings.TrimPrefix(m, p)
	}
	return oneLine(strings.ReplaceAll(m, `\"`, `"`))
}

// noEndpointError reports that every endpoint was tried and none answered,
// or that ctx ended first.
func noEndpointError(ctx context.Context, attempts []*Error) *Error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return &Error{Code: codes.Canceled, Message: "request canceled", kind: ErrOther, cause: ctx.Err()}
	}
	parts := make([]string, 0, len(attempts))
	causes := make([]error, 0, len(attempts))
	code := codes.DeadlineExceeded
	allNotGRPC := len(attempts) > 0
	for _, a := range attempts {
		if a.notGRPC {
			parts = append(parts, a.Message) // it names the endpoint
		} else {
			parts = append(parts, a.Endpoint+": "+a.Message)
			allNotGRPC = false
		}
		causes = append(causes, a.cause)
		code = a.Code
	}
	msg := "no endpoint answered in time"
	if allNotGRPC {
		msg = "no quorumkv endpoint answered"
	}
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, "; ") + ")"
	}
	return &Error{Code: code, Message: msg, kind: ErrNoEndpoint, cause: errors.Join(causes...)}
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
