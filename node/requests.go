package node

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
)

// Outcomes of quorumkv_client_requests_total.
const (
	outcomeOK           = "ok"
	outcomeNotFound     = "not_found"
	outcomeLevelNotMet  = "level_not_met"
	outcomeInvalid      = "invalid"
	outcomeNotPermitted = "not_permitted"
	outcomeTimeout      = "timeout"
	outcomeOther        = "other"
)

// keyOps maps the client API's key methods to their op label.
var keyOps = map[string]string{
	"Get": "get", "Put": "put", "Delete": "delete",
	"SetAdd": "sadd", "SetRemove": "srem", "SetMembers": "smembers",
}

// requestRecord is where a key request's handler leaves what the metrics
// interceptor cannot see in the gRPC status: the domain outcome, and
// whether the request was forwarded to a replica (which then counts it).
type requestRecord struct {
	outcome    string
	quorumKind string // "read" or "write" for a quorum failure
	refusal    string // the reason the object was refused, if it was
	forwarded  bool
}

type requestRecordKey struct{}

// recordOf returns the request's record, nil outside a key request.
func recordOf(ctx context.Context) *requestRecord {
	r, _ := ctx.Value(requestRecordKey{}).(*requestRecord)
	return r
}

// unaryInterceptor counts and times the client key requests this node
// coordinates; a request it forwards is counted by the replica that
// coordinates it, so the sum over nodes counts each client request once.
func (m *metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	op, ok := keyOps[info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]]
	if !ok || !strings.HasPrefix(info.FullMethod, "/"+pb.KV_ServiceDesc.ServiceName+"/") {
		return handler(ctx, req)
	}
	level := "quorum"
	if c, ok := req.(interface{ GetConsistency() pb.Consistency }); ok {
		if l, err := levelFromProto(c.GetConsistency()); err == nil {
			level = strings.ToLower(l.String())
		} else {
			level = "unknown"
		}
	}
	rec := &requestRecord{}
	start := time.Now()
	resp, err := handler(context.WithValue(ctx, requestRecordKey{}, rec), req)
	if rec.forwarded {
		return resp, err
	}
	outcome := rec.outcome
	if outcome == "" {
		outcome = outcomeOf(err)
	}
	if f, ok := resp.(interface{ GetFound() bool }); ok && err == nil && !f.GetFound() {
		outcome = outcomeNotFound
	}
	m.requests.WithLabelValues(op, level, outcome).Inc()
	m.latency.WithLabelValues(op, level).Observe(time.Since(start).Seconds())
	if rec.quorumKind != "" {
		m.quorumFailures.WithLabelValues(level, rec.quorumKind).Inc()
	}
	if rec.refusal != "" {
		m.components.refused.WithLabelValues(rec.refusal).Inc()
	}
	if g, ok := resp.(*pb.GetResponse); ok && err == nil && len(g.GetValues()) > 1 {
		m.siblingReads.Inc()
		m.siblings.Add(float64(len(g.GetValues())))
	}
	return resp, err
}

// record notes the domain outcome of a key request served here, err being
// the coordinator's error, in ctx's record if there is one.
func record(ctx context.Context, err error) {
	rec := recordOf(ctx)
	if rec == nil {
		return
	}
	rec.outcome = outcomeOf(err)
	rec.refusal = refusalReason(err)
	var qe *replication.QuorumError
	if errors.As(err, &qe) {
		rec.quorumKind = "read" // a delete or srem whose read failed, too
		if qe.Write {
			rec.quorumKind = "write"
		}
	}
}

// outcomeOf classifies a domain error or a gRPC status error.
func outcomeOf(err error) string {
	var qe *replication.QuorumError
	switch {
	case err == nil:
		return outcomeOK
	case errors.As(err, &qe):
		return outcomeLevelNotMet
	case errors.Is(err, replication.ErrInvalidArgument), errors.Is(err, replication.ErrWrongType),
		errors.Is(err, replication.ErrTooManySiblings):
		return outcomeInvalid
	case errors.Is(err, context.DeadlineExceeded):
		return outcomeTimeout
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
			return outcomeInvalid
		case codes.PermissionDenied, codes.Unauthenticated:
			return outcomeNotPermitted
		case codes.DeadlineExceeded:
			return outcomeTimeout
		}
	}
	return outcomeOther
}
