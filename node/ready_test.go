package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/internal/testkit"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

func TestReadyState_notReady(t *testing.T) {
	ready := readyState{storageOpen: true, serving: true, joined: true, ringState: ring.Normal}
	tests := map[string]struct {
		edit func(*readyState)
		want string // "" means ready
	}{
		"normal":         {func(*readyState) {}, ""},
		"leaving":        {func(s *readyState) { s.ringState = ring.Leaving }, ""},
		"storage closed": {func(s *readyState) { s.storageOpen = false }, "storage closed"},
		"not serving":    {func(s *readyState) { s.serving = false }, "not serving"},
		"not joined":     {func(s *readyState) { s.joined, s.ringState = false, 0 }, "not joined"},
		"joining":        {func(s *readyState) { s.ringState = ring.Joining }, "joining"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := ready
			tc.edit(&s)
			got := s.notReady()
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
				t.Fatalf("notReady() = %q, want %q", got, tc.want)
			}
		})
	}
}

// awaitMemberlistGone waits until no memberlist goroutine is left: after
// Shutdown, a probe in flight still waits out its probe interval and
// fallback ping, longer than goleak's retries in TestMain.
func awaitMemberlistGone(t *testing.T) {
	t.Helper()
	await(t, 20*time.Second, "memberlist goroutines gone", func() error {
		buf := make([]byte, 1<<20)
		if st := string(buf[:runtime.Stack(buf, true)]); strings.Contains(st, "hashicorp/memberlist.") {
			return fmt.Errorf("memberlist goroutines still running")
		}
		return nil
	})
}

// readyz calls the node's /readyz handler and returns its code and body.
func readyz(tn *testNode) (int, string) {
	rec := httptest.NewRecorder()
	tn.n.readyz(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// healthOf asks the node's gRPC health service for the server's status.
func healthOf(t *testing.T, tn *testNode) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	conn, err := grpc.NewClient(tn.n.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("%s: health check: %v", tn.n.cfg.NodeID, err)
	}
	return resp.GetStatus()
}

// awaitReadiness waits until /readyz answers code with a body containing
// want and the gRPC health service agrees.
func awaitReadiness(t *testing.T, tn *testNode, code int, want string) {
	t.Helper()
	health := healthpb.HealthCheckResponse_SERVING
	if code != http.StatusOK {
		health = healthpb.HealthCheckResponse_NOT_SERVING
	}
	await(t, 30*time.Second, fmt.Sprintf("%s: /readyz %d %q", tn.n.cfg.NodeID, code, want), func() error {
		if c, body := readyz(tn); c != code || !strings.Contains(body, want) {
			return fmt.Errorf("/readyz %d %q", c, body)
		}
		if h := healthOf(t, tn); h != health {
			return fmt.Errorf("gRPC health %v", h)
		}
		return nil
	})
}

// /readyz and the gRPC health service say ready for a joined node, also
// after its seed died, and not ready (naming why) for a node that has not
// joined, one that is joining (filling) and one whose storage is closed.
func TestNode_readiness(t *testing.T) {
	t.Cleanup(func() { awaitMemberlistGone(t) }) // runs after every node stopped
	dir := t.TempDir()
	c1 := testConfig(t, dir, "n1")
	c1.MetricsAddr = testkit.FreeAddr(t)
	n1 := start(t, c1)
	awaitReadiness(t, n1, http.StatusOK, "ok")
	resp, err := http.Get("http://" + c1.MetricsAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("GET /readyz: %d %q", resp.StatusCode, body)
	}

	lonely := start(t, testConfig(t, dir, "lonely", testkit.FreeAddr(t)))
	awaitReadiness(t, lonely, http.StatusServiceUnavailable, "not joined")

	seed := c1.GossipAddr
	n2 := start(t, testConfig(t, dir, "n2", seed))
	n3 := start(t, testConfig(t, dir, "n3", seed))
	await(t, 30*time.Second, "three alive normal members", func() error { return allNormal([]*testNode{n1, n2, n3}, 3) })
	awaitReadiness(t, n2, http.StatusOK, "ok")

	n1.stop(t)
	if code, body := readyz(n1); code != http.StatusServiceUnavailable || body != "storage closed" {
		t.Fatalf("stopped n1: /readyz %d %q, want 503 storage closed", code, body)
	}
	for _, tn := range []*testNode{n2, n3} {
		if code, body := readyz(tn); code != http.StatusOK {
			t.Fatalf("%s right after its seed stopped: /readyz %d %q", tn.n.cfg.NodeID, code, body)
		}
	}
	await(t, 30*time.Second, "n1 dead on n2", func() error {
		if m, _ := n2.n.member("n1"); m.Liveness != cluster.LivenessDead {
			return fmt.Errorf("n2 sees n1 %s", m.Liveness)
		}
		return nil
	})
	awaitReadiness(t, n2, http.StatusOK, "ok")
	awaitReadiness(t, n3, http.StatusOK, "ok")

	// A joiner that reaches no replica to fill from stays joining: its
	// pool of peer connections is closed before its first fill, while
	// Join, on a connection of its own, still gets it the settings.
	n4 := start(t, testConfig(t, dir, "n4", n2.n.cfg.GossipAddr))
	_ = n4.n.conns.Close()
	await(t, 30*time.Second, "n4 joined", func() error {
		if !n4.n.joined() {
			return fmt.Errorf("not joined")
		}
		return nil
	})
	awaitReadiness(t, n4, http.StatusServiceUnavailable, "joining")
}

// A gRPC health watcher sees SERVING, then NOT_SERVING or the end of its
// stream when the node stops, and does not hold the stop until the
// shutdown timeout.
func TestNode_healthWatchEndsAtStop(t *testing.T) {
	t.Cleanup(func() { awaitMemberlistGone(t) })
	tn := start(t, testConfig(t, t.TempDir(), "n1"))
	awaitReadiness(t, tn, http.StatusOK, "ok")
	conn, err := grpc.NewClient(tn.n.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: pb.KV_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := w.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch answer: %v, %v; want SERVING", resp, err)
	}
	if took := tn.stop(t); took > 15*time.Second {
		t.Fatalf("stop took %v with a health watch open", took)
	}
	for {
		resp, err := w.Recv()
		if err != nil || resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			return
		}
	}
}
