package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/client"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// writeGossipKeys writes keys in --gossip-key-file's format.
func writeGossipKeys(t *testing.T, keys ...[]byte) string {
	t.Helper()
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	path := filepath.Join(t.TempDir(), "gossip.keys")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// callJoin calls Replica.Join at addr.
func callJoin(t *testing.T, addr string, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pb.NewReplicaClient(conn).Join(ctx, req)
}

// Three nodes with a gossip key form a cluster (the joiners adopt the
// settings over Join) and serve; Join answers only a caller proving the
// key, even from loopback.
func TestNode_gossipKeyClusterFormsAndServesJoin(t *testing.T) {
	dir := t.TempDir()
	keys := writeGossipKeys(t, bytes.Repeat([]byte{7}, 32))
	cfg := func(id string, join ...string) Config {
		c := testConfig(t, dir, id, join...)
		c.GossipKeyFile = keys
		return c
	}
	n1 := start(t, cfg("n1"))
	seed := n1.n.cfg.GossipAddr
	n2 := start(t, cfg("n2", seed))
	n3 := start(t, cfg("n3", seed))
	nodes := []*testNode{n1, n2, n3}
	await(t, 30*time.Second, "three alive normal members on every node", func() error { return allNormal(nodes, 3) })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New([]string{n2.n.grpcAddr}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Put(ctx, []byte("k"), []byte("v"), client.WithConsistency(client.All)); err != nil {
		t.Fatalf("put at ALL: %v", err)
	}
	if got, err := c.Get(ctx, []byte("k"), client.WithConsistency(client.All)); err != nil || !got.Found || string(got.Values[0]) != "v" {
		t.Fatalf("get at ALL: %+v, %v", got, err)
	}

	// No proof, or a proof made with another key: refused.
	_, err = callJoin(t, n1.n.peerAddr, &pb.JoinRequest{NodeId: "n9", ClusterName: "nodetest"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Join without a key proof = %v, want PermissionDenied", err)
	}
	// A member's own request (it holds the key) is answered, with the
	// secret n1 uses.
	resp, err := callJoin(t, n1.n.peerAddr, joinRequestOf(t, n2))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := n1.n.members.Load().Settings()
	if !bytes.Equal(resp.GetSecret(), s.Secret) || len(resp.GetMembers().GetMembers()) != 3 {
		t.Fatalf("Join answer: %d members, secret equal: %v", len(resp.GetMembers().GetMembers()), bytes.Equal(resp.GetSecret(), s.Secret))
	}
	// Another cluster name: refused as such.
	req := joinRequestOf(t, n2)
	req.ClusterName = "other"
	if _, err := callJoin(t, n1.n.peerAddr, req); status.Code(err) != codes.PermissionDenied {
		// The proof covers the cluster name, so it no longer verifies.
		t.Fatalf("Join for another cluster name = %v, want PermissionDenied", err)
	}
}

// joinRequestOf returns the Join request tn's membership makes.
func joinRequestOf(t *testing.T, tn *testNode) *pb.JoinRequest {
	t.Helper()

	return tn.n.members.Load().JoinRequest()
}

// Without TLS and a gossip key, Join answers loopback callers only; with a
// peer check (TLS), its verdict decides.
func TestNode_authorizeJoin(t *testing.T) {
	dir := t.TempDir()
	n1 := start(t, testConfig(t, dir, "n1"))
	m := n1.n.members.Load()
	req := &pb.JoinRequest{NodeId: "n2", ClusterName: "nodetest"}
	from := func(ip string) context.Context {
		return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000}})
	}
	if err := n1.n.authorizeJoin(from("127.0.0.1"), m, req); err != nil {
		t.Fatalf("loopback caller refused: %v", err)
	}
	if err := n1.n.authorizeJoin(from("::1"), m, req); err != nil {
		t.Fatalf("loopback caller refused: %v", err)
	}
	if err := n1.n.authorizeJoin(from("10.1.2.3"), m, req); err == nil {
		t.Fatal("a remote caller without TLS or gossip key is trusted")
	}
	if err := n1.n.authorizeJoin(context.Background(), m, req); err == nil {
		t.Fatal("a caller of unknown address is trusted")
	}
	// Over the wire, from loopback.
	if _, err := callJoin(t, n1.n.peerAddr, req); err != nil {
		t.Fatalf("Join from loopback without a gossip key: %v", err)
	}
	n1.n.peerAuth = func(context.Context) error { return errors.New("no node certificate") }
	if err := n1.n.authorizeJoin(from("127.0.0.1"), m, req); err == nil {
		t.Fatal("the peer check was ignored")
	}
	n1.n.peerAuth = func(context.Context) error { return nil }
	if err := n1.n.authorizeJoin(from("10.1.2.3"), m, req); err != nil {
		t.Fatalf("a caller with a node certificate refused: %v", err)
	}
	n1.n.peerAuth = nil
	// --insecure: the operator declared the network trusted. (A node of
	// its own: a running node's config is not changed under it.)
	cfg := testConfig(t, dir, "i1")
	cfg.Insecure = true
	i1 := start(t, cfg)
	if err := i1.n.authorizeJoin(from("10.1.2.3"), i1.n.members.Load(), req); err != nil {
		t.Fatalf("a remote caller refused although the node runs with --insecure: %v", err)
	}
}
