package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/client/clienttest"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

func newClient(t *testing.T, endpoints []string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(endpoints, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func countRequests(s *clienttest.Server) int { return len(s.Requests()) }

func TestClient_PutGet_contextRoundTrip(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.Siblings = true
	c := newClient(t, []string{srv.Addr()})
	ctx := context.Background()

	for _, v := range []string{"a", "b"} {
		if _, err := c.Put(ctx, []byte("k"), []byte(v)); err != nil {
			t.Fatalf("Put %s: %v", v, err)
		}
	}
	res, err := c.Get(ctx, []byte("k"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !res.Found || len(res.Values) != 2 {
		t.Fatalf("Get = %+v, want two siblings", res)
	}
	r, err := c.Put(ctx, []byte("k"), []byte("c"), client.WithContext(res.Context))
	if err != nil {
		t.Fatalf("Put with context: %v", err)
	}
	if r.Coordinator != "n1" || r.Level != client.Quorum || r.Applied != client.AppliedPartial {
		t.Errorf("receipt = %+v", r)
	}
	put := srv.LastRequest().(*quorumkvv1.PutRequest)
	if !bytes.Equal(put.GetContext(), res.Context) {
		t.Errorf("context sent = %x, want %x", put.GetContext(), res.Context)
	}
	res, err = c.Get(ctx, []byte("k"))
	if err != nil || len(res.Values) != 1 || string(res.Values[0]) != "c" {
		t.Fatalf("Get after resolving put = %+v, %v", res, err)
	}
}

func TestClient_Get_missingKey(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	c := newClient(t, []string{srv.Addr()})
	res, err := c.Get(context.Background(), []byte("nope"))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if res.Found || len(res.Values) != 0 || len(res.Context) == 0 {
		t.Errorf("Get = %+v, want not found with a context", res)
	}
}

func TestClient_consistency_defaultsAndOverrides(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	ctx := context.Background()
	tests := []struct {
		name   string
		client []client.Option
		call   []client.CallOption
		want   quorumkvv1.Consistency
	}{
		{"default", nil, nil, quorumkvv1.Consistency_CONSISTENCY_QUORUM},
		{"client one", []client.Option{client.WithConsistency(client.One)}, nil, quorumkvv1.Consistency_CONSISTENCY_ONE},
		{"call all", nil, []client.CallOption{client.WithConsistency(client.All)}, quorumkvv1.Consistency_CONSISTENCY_ALL},
		{"call overrides client", []client.Option{client.WithConsistency(client.One)}, []client.CallOption{client.WithConsistency(client.All)}, quorumkvv1.Consistency_CONSISTENCY_ALL},
		{"zero keeps client default", []client.Option{client.WithConsistency(client.One)}, []client.CallOption{client.WithConsistency(0)}, quorumkvv1.Consistency_CONSISTENCY_ONE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, []string{srv.Addr()}, tt.client...)
			if _, err := c.SAdd(ctx, []byte("s"), [][]byte{[]byte("m")}, tt.call...); err != nil {
				t.Fatalf("SAdd: %v", err)
			}
			if got := srv.LastRequest().(*quorumkvv1.SetAddRequest).GetConsistency(); got != tt.want {
				t.Errorf("consistency sent = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClient_failover(t *testing.T) {
	ctx := context.Background()
	t.Run("dead first endpoint", func(t *testing.T) {
		srv := clienttest.Start(t, "n2")
		c := newClient(t, []string{clienttest.DeadAddr(t), srv.Addr()})
		if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got := countRequests(srv); got != 1 {
			t.Errorf("second endpoint got %d requests, want 1", got)
		}
	})
	t.Run("blackholed first endpoint", func(t *testing.T) {
		srv := clienttest.Start(t, "n2")
		c := newClient(t, []string{clienttest.Blackhole(t), srv.Addr()}, client.WithTimeout(200*time.Millisecond))
		if _, err := c.Get(ctx, []byte("k")); err != nil {
			t.Fatalf("Get: %v", err)
		}
	})
	t.Run("unavailable without receipt, then sticks", func(t *testing.T) {
		a, b := clienttest.Start(t, "n1"), clienttest.Start(t, "n2")
		a.Fail("", clienttest.StatusError(codes.Unavailable, "shutting down", nil))
		c := newClient(t, []string{a.Addr(), b.Addr()})
		for i := range 3 {
			if _, err := c.Get(ctx, []byte("k")); err != nil {
				t.Fatalf("Get %d: %v", i, err)
			}
		}
		if got := countRequests(a); got != 1 {
			t.Errorf("first endpoint got %d requests, want 1 (the client should stick to the second)", got)
		}
		if got := countRequests(b); got != 3 {
			t.Errorf("second endpoint got %d requests, want 3", got)
		}
	})
	t.Run("unavailable with receipt is not retried", func(t *testing.T) {
		a, b := clienttest.Start(t, "n1"), clienttest.Start(t, "n2")
		const msg = "QUORUM write: 1 of 2 required acknowledgements (n2 unreachable); applied on n1"
		a.Fail("Put", clienttest.StatusError(codes.Unavailable, msg, &quorumkvv1.Receipt{
			Coordinator: "n1", Level: quorumkvv1.Consistency_CONSISTENCY_QUORUM, Required: 2,
			Acknowledged: []string{"n1"}, Failed: []*quorumkvv1.ReplicaFailure{{Id: "n2", Reason: "unreachable"}},
			Applied: quorumkvv1.Applied_APPLIED_PARTIAL, HintsWritten: 1,
		}))
		c := newClient(t, []string{a.Addr(), b.Addr()})
		_, err := c.Put(ctx, []byte("k"), []byte("v"))
		if !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("Put error = %v, want ErrUnavailable", err)
		}
		if err.Error() != msg {
			t.Errorf("message = %q, want %q", err.Error(), msg)
		}
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Receipt == nil {
			t.Fatalf("no receipt in %#v", err)
		}
		if r := ce.Receipt; r.Coordinator != "n1" || r.Required != 2 || len(r.Failed) != 1 || r.Failed[0].Reason != "unreachable" || r.HintsWritten != 1 {
			t.Errorf("receipt = %+v", r)
		}
		if ce.Endpoint != a.Addr() {
			t.Errorf("endpoint = %q, want %q", ce.Endpoint, a.Addr())
		}
		if got := countRequests(b); got != 0 {
			t.Errorf("second endpoint got %d requests, want 0", got)
		}
	})
	t.Run("no endpoint answers", func(t *testing.T) {
		c := newClient(t, []string{clienttest.DeadAddr(t), clienttest.Blackhole(t)}, client.WithTimeout(100*time.Millisecond))
		_, err := c.Status(ctx)
		if !errors.Is(err, client.ErrNoEndpoint) {
			t.Fatalf("Status error = %v, want ErrNoEndpoint", err)
		}
		t.Log(err)
	})
	t.Run("caller deadline", func(t *testing.T) {
		c := newClient(t, []string{clienttest.Blackhole(t)}, client.WithTimeout(0))
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := c.Members(ctx); !errors.Is(err, client.ErrNoEndpoint) {
			t.Fatalf("Members error = %v, want ErrNoEndpoint", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		srv := clienttest.Start(t, "n1")
		c := newClient(t, []string{srv.Addr()})
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.Get(ctx, []byte("k"))
		if !errors.Is(err, client.ErrOther) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Get error = %v, want ErrOther wrapping context.Canceled", err)
		}
	})
}

func TestClient_Leave_neverFailsOver(t *testing.T) {
	srv := clienttest.Start(t, "n2")
	c := newClient(t, []string{clienttest.DeadAddr(t), srv.Addr()})
	if err := c.Leave(context.Background(), false); !errors.Is(err, client.ErrNoEndpoint) {
		t.Fatalf("Leave error = %v, want ErrNoEndpoint", err)
	}
	if got := countRequests(srv); got != 0 {
		t.Errorf("second endpoint got %d requests, want 0", got)
	}
}

func TestNew_noEndpoints(t *testing.T) {
	if _, err := client.New([]string{" ", ""}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("New error = %v, want ErrInvalidArgument", err)
	}
}

func TestClient_admin(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.SetMemberList(&quorumkvv1.Member{Id: "n1", GrpcAddr: "a:1", GossipAddr: "a:2", State: quorumkvv1.Liveness_LIVENESS_SUSPECT, RingState: quorumkvv1.RingState_RING_STATE_LEAVING, Ownership: 0.5})
	c := newClient(t, []string{srv.Addr()})
	ctx := context.Background()
	ms, err := c.Members(ctx)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	want := client.Member{ID: "n1", GRPCAddr: "a:1", GossipAddr: "a:2", State: client.Suspect, RingState: client.Leaving, Ownership: 0.5}
	if len(ms) != 1 || ms[0] != want {
		t.Errorf("Members = %+v, want [%+v]", ms, want)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.NodeID != "n1" || st.LastAntiEntropy == nil {
		t.Errorf("Status = %+v", st)
	}
	if err := c.Remove(ctx, "n3", true); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if req := srv.LastRequest().(*quorumkvv1.RemoveRequest); req.GetNodeId() != "n3" || !req.GetForce() {
		t.Errorf("Remove request = %v", req)
	}
}

func TestClient_Repair_failedPeersNotInPeers(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	srv.SetRepair(&quorumkvv1.RepairResponse{Peers: []string{"n2", "n3"}, Failed: []*quorumkvv1.ReplicaFailure{{Id: "n3", Reason: "unreachable"}}})
	c := newClient(t, []string{srv.Addr()})
	res, err := c.Repair(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Peers) != "[n2]" || len(res.Failed) != 1 || res.Failed[0].ID != "n3" {
		t.Errorf("Repair = %+v, want peers [n2] and n3 failed", res)
	}
}
