package node

import (
	"context"
	"net/http"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/quorumkv/quorumkv/cluster/ring"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// healthInterval is how often the gRPC health service is brought in step
// with readiness.
const healthInterval = 200 * time.Millisecond

// readyState is what readiness depends on, read at one moment.
type readyState struct {
	storageOpen bool       // the data dir is open
	serving     bool       // serve runs and has not started to drain
	joined      bool       // the node is in its cluster's member table
	ringState   ring.State // this node's ring state, once joined
	clockFenced string     // why the clock fence holds, "" when it does not
}

// notReady returns why a node in state s does not take requests, one line,
// or "" when it is ready. A joined node stays ready whatever happens to its
// peers or seeds: it serves what its level can reach.
func (s readyState) notReady() string {
	switch {
	case !s.storageOpen:
		return "storage closed"
	case !s.serving:
		return "not serving: starting or shutting down"
	case !s.joined:
		return "not joined: no seed has answered yet"
	case s.ringState == ring.Joining:
		return "joining: filling the partitions it will replicate"
	case s.clockFenced != "":
		return "clock fenced: " + s.clockFenced
	}
	return ""
}

// readyState reads the node's readiness inputs.
func (n *node) readyState() readyState {
	s := readyState{storageOpen: n.storageOpen.Load(), serving: n.ready.Load()}
	if m := n.members.Load(); m != nil && m.Joined() {
		s.joined, s.ringState = true, m.Self().State
	}
	if n.fence != nil {
		if st := n.fence.State(); st.Fenced {
			s.clockFenced = st.Reason
		}
	}
	return s
}

// readyz serves /readyz: 200 "ok" when ready, else 503 with the reason.
func (n *node) readyz(w http.ResponseWriter, _ *http.Request) {
	if why := n.readyState().notReady(); why != "" {
		http.Error(w, why, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// healthServiceNames are the services the gRPC health service reports:
// the server as a whole ("") and the client API.
var healthServiceNames = []string{"", pb.KV_ServiceDesc.ServiceName}

// newHealth returns the gRPC health service, NOT_SERVING until serve
// brings it in step with readiness.
func newHealth() *health.Server {
	h := health.NewServer()
	for _, s := range healthServiceNames {
		h.SetServingStatus(s, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return h
}

// updateHealth sets the gRPC health service to the current readiness.
func (n *node) updateHealth() {
	st := healthpb.HealthCheckResponse_SERVING
	if n.readyState().notReady() != "" {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	for _, s := range healthServiceNames {
		n.health.SetServingStatus(s, st)
	}
}

// keepHealth keeps the gRPC health service in step with readiness until
// ctx is done. serve owns it.
func (n *node) keepHealth(ctx context.Context) {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		n.updateHealth()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// healthService is the gRPC health service whose Watch streams end when
// the node starts to drain (stop is done), so a watcher cannot hold a
// graceful stop until its timeout.
type healthService struct {
	*health.Server
	stop context.Context
}

func (h healthService) Watch(in *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	unhook := context.AfterFunc(h.stop, cancel)
	defer unhook()
	return h.Server.Watch(in, watchStream{Health_WatchServer: stream, ctx: ctx})
}

type watchStream struct {
	healthpb.Health_WatchServer
	ctx context.Context
}

func (w watchStream) Context() context.Context { return w.ctx }
