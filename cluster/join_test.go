package cluster

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// A joiner gets the settings and secret through Join, never through
// gossip: no gossip state a member sends carries the secret.
func TestMembership_joinerAdoptsSettingsOverJoin(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	n2 := c.node(2, n1)
	c.bootstrap(n1)
	for _, join := range []bool{false, true} {
		if st := (&delegate{m: n1.m}).LocalState(join); bytes.Contains(st, c.settings.Secret) {
			t.Fatalf("LocalState(join=%v) carries the secret", join)
		}
	}
	c.start(n2, nil)
	eventually(t, converge, "converged", func() error { return converged([]*node{n1, n2}, "n1", "n2") })
	if c.joins.Load() == 0 {
		t.Fatal("n2 joined without a Join call")
	}
	if s, ok := n2.m.Settings(); !ok || !s.equal(c.settings) || n2.adopted.Load() != 1 {
		t.Fatalf("n2 settings %+v, %v; adopted %d times", s, ok, n2.adopted.Load())
	}
}

// A joiner whose Join calls all fail never joins, although its gossip
// reaches the cluster.
func TestMembership_joinRefusedNeverJoins(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	n2 := c.node(2, n1)
	c.bootstrap(n1)
	cfg := c.config(n2)
	calls := make(chan struct{}, 100)
	cfg.Join = func(_ context.Context, _ string, _ *quorumkvv1.JoinRequest) (*quorumkvv1.JoinResponse, error) {
		select {
		case calls <- struct{}{}:
		default:
		}
		return nil, ErrUntrusted
	}
	m, err := New(cfg, nil, n2.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	for range 3 {
		<-calls // three attempts, each after a memberlist join
	}
	if m.Joined() || n2.adopted.Load() != 0 {
		t.Fatal("joined without the settings")
	}
	if _, ok := m.Settings(); ok {
		t.Fatal("has settings")
	}
}

func TestMembership_VerifyJoinProof(t *testing.T) {
	c := newTestCluster(t)
	old := []byte("an-older-gossip-key-still-in-use")
	c.keys = [][]byte{testGossipKey, old}
	n1 := c.node(1)
	c.bootstrap(n1)
	now := time.Now().Unix()
	req := func(key []byte, id string, unix int64) *quorumkvv1.JoinRequest {
		return &quorumkvv1.JoinRequest{NodeId: id, ClusterName: "test", UnixTime: unix,
			KeyProof: joinProof(key, "test", id, unix)}
	}
	tests := map[string]struct {
		req *quorumkvv1.JoinRequest
		ok  bool
	}{
		"primary key":     {req: req(testGossipKey, "n2", now), ok: true},
		"secondary key":   {req: req(old, "n2", now), ok: true},
		"wrong key":       {req: req([]byte("not-the-cluster-gossip-key-32byt"), "n2", now)},
		"no proof":        {req: &quorumkvv1.JoinRequest{NodeId: "n2", ClusterName: "test", UnixTime: now}},
		"stale":           {req: req(testGossipKey, "n2", now-3600)},
		"from the future": {req: req(testGossipKey, "n2", now+3600)},
		"another node's": {req: func() *quorumkvv1.JoinRequest {
			r := req(testGossipKey, "n2", now)
			r.NodeId = "n3"
			return r
		}()},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := n1.m.VerifyJoinProof(tt.req)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrUntrusted)) {
				t.Fatalf("VerifyJoinProof = %v, want ok=%v", err, tt.ok)
			}
		})
	}

	// The request a member makes verifies.
	if err := n1.m.VerifyJoinProof(n1.m.JoinRequest()); err != nil {
		t.Fatal(err)
	}
	// Without gossip keys, nothing verifies.
	plain := newTestCluster(t)
	plain.keys = nil
	p1 := plain.node(1)
	plain.bootstrap(p1)
	if err := p1.m.VerifyJoinProof(req(testGossipKey, "n2", now)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("VerifyJoinProof without keys = %v", err)
	}
}

func TestMembership_Admit(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.node(1)
	c.bootstrap(n1)
	resp, err := n1.m.Admit(&quorumkvv1.JoinRequest{NodeId: "n2", ClusterName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := settingsFromProto(resp.GetSettings(), resp.GetSecret())
	if err != nil || !s.equal(c.settings) || len(resp.GetMembers().GetMembers()) != 1 {
		t.Fatalf("Admit = %+v, %v", resp, err)
	}
	if _, err := n1.m.Admit(&quorumkvv1.JoinRequest{NodeId: "n2", ClusterName: "other"}); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("Admit(other cluster) = %v", err)
	}
	// A removed id gets the table, neither settings nor secret.
	n1.m.mu.Lock()
	n1.m.table["n7"] = Entry{ID: "n7", GRPCAddr: "127.0.0.1:7007", GossipAddr: "127.0.0.1:7107", VNodes: 1, State: ring.Removed, Version: 3}
	n1.m.mu.Unlock()
	resp, err = n1.m.Admit(&quorumkvv1.JoinRequest{NodeId: "n7", ClusterName: "test"})
	if err != nil || resp.GetSettings() != nil || resp.GetSecret() != nil || len(resp.GetMembers().GetMembers()) != 2 {
		t.Fatalf("Admit(removed id) = %+v, %v", resp, err)
	}
	n2 := c.node(2, c.node(9)) // its seed does not exist
	c.start(n2, nil)
	if _, err := n2.m.Admit(&quorumkvv1.JoinRequest{NodeId: "n3", ClusterName: "test"}); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("Admit on a node that has not joined = %v", err)
	}
}
