package node

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/internal/testkit"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
)

// dial returns a plain connection to addr that sends messages as large as
// a peer's; the test closes it.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(replication.MaxMessageBytes)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// The client listener serves the client API only, within its receive
// limit; the peer listener, published in the member table (the advertised
// address when one is given), carries replication, Join and forwarded
// client requests with the peer message limit.
func TestNode_peerListener(t *testing.T) {
	dir := t.TempDir()
	n1 := start(t, testConfig(t, dir, "n1"))
	cfg2 := testConfig(t, dir, "n2", n1.n.cfg.GossipAddr)
	cfg2.PeerAddr = testkit.FreeAddr(t)
	_, port, _ := net.SplitHostPort(cfg2.PeerAddr)
	cfg2.AdvertisePeerAddr = net.JoinHostPort("localhost", port)
	n2 := start(t, cfg2)
	nodes := []*testNode{n1, n2}
	await(t, 30*time.Second, "two alive normal members on every node", func() error { return allNormal(nodes, 2) })

	if n1.n.peerAddr == n1.n.grpcAddr {
		t.Fatalf("n1's peer address %s is its client address", n1.n.peerAddr)
	}
	if n2.n.peerAddr != cfg2.AdvertisePeerAddr {
		t.Fatalf("n2 publishes peer address %s, want the advertised %s", n2.n.peerAddr, cfg2.AdvertisePeerAddr)
	}
	for _, tn := range nodes {
		for _, other := range nodes {
			m, _ := tn.n.member(other.n.cfg.NodeID)
			if m.PeerAddr != other.n.peerAddr || m.GRPCAddr != other.n.grpcAddr {
				t.Fatalf("%s's entry of %s: grpc %s peer %s, want grpc %s peer %s", tn.n.cfg.NodeID, m.ID,
					m.GRPCAddr, m.PeerAddr, other.n.grpcAddr, other.n.peerAddr)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.New([]string{n1.n.grpcAddr}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec, err := c.Put(ctx, []byte("k"), bytes.Repeat([]byte("v"), n1.n.cfg.MaxValueBytes), client.WithConsistency(client.All))
	if err != nil || len(rec.Acknowledged) != 2 {
		t.Fatalf("put of the largest value at ALL: %+v, %v; want both replicas over the peer listeners", rec, err)
	}

	client1, peer1 := dial(t, n1.n.grpcAddr), dial(t, n1.n.peerAddr)
	t.Run("client listener refuses replica RPCs", func(t *testing.T) {
		_, err := pb.NewReplicaClient(client1).Join(ctx, &pb.JoinRequest{NodeId: "n9", ClusterName: "nodetest"})
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("Join on the client listener: %v, want Unimplemented", err)
		}
		stream, err := pb.NewReplicaClient(client1).Exchange(ctx)
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("Exchange on the client listener: %v, want Unimplemented", err)
		}
	})
	t.Run("client listener refuses a 2 MiB request", func(t *testing.T) {
		_, err := pb.NewKVClient(client1).Put(ctx, &pb.PutRequest{Key: []byte("big"), Value: make([]byte, 2<<20)})
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("2 MiB put on the client listener: %v, want ResourceExhausted", err)
		}
	})
	t.Run("client listener takes the largest value with a large token", func(t *testing.T) {
		_, err := pb.NewKVClient(client1).Put(ctx, &pb.PutRequest{Key: bytes.Repeat([]byte("k"), n1.n.cfg.MaxKeyBytes),
			Value: make([]byte, n1.n.cfg.MaxValueBytes), Context: make([]byte, 60<<10)})
		if status.Code(err) != codes.InvalidArgument { // read by gRPC, refused for its bad token
			t.Fatalf("largest put with a 60 KiB token: %v, want InvalidArgument", err)
		}
	})
	t.Run("peer listener serves Join", func(t *testing.T) {
		resp, err := pb.NewReplicaClient(peer1).Join(ctx, &pb.JoinRequest{NodeId: "n9", ClusterName: "nodetest"})
		if err != nil || len(resp.GetSecret()) == 0 {
			t.Fatalf("Join on the peer listener from loopback: %v", err)
		}
	})
	t.Run("peer listener reads a 2 MiB request whole", func(t *testing.T) {
		_, err := pb.NewKVClient(peer1).Put(ctx, &pb.PutRequest{Key: []byte("big"), Value: make([]byte, 2<<20)})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("2 MiB put on the peer listener: %v, want InvalidArgument (value too large)", err)
		}
	})
	t.Run("members list peer addresses", func(t *testing.T) {
		resp, err := pb.NewKVClient(client1).Members(ctx, &pb.MembersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.GetMembers() {
			if m.GetPeerAddr() == "" || m.GetPeerAddr() == m.GetGrpcAddr() {
				t.Fatalf("member %s: grpc %s peer %q", m.GetId(), m.GetGrpcAddr(), m.GetPeerAddr())
			}
		}
	})
}

func TestPeerAddrs(t *testing.T) {
	tests := map[string]struct {
		cfg             Config
		bound           string
		bind, advertise string
	}{
		"default: grpc host, ephemeral port": {Config{GRPCAddr: "127.0.0.1:7001"}, "127.0.0.1:41234", "127.0.0.1:0", "127.0.0.1:41234"},
		"given":                              {Config{GRPCAddr: "127.0.0.1:7001", PeerAddr: "127.0.0.1:7301"}, "127.0.0.1:7301", "127.0.0.1:7301", "127.0.0.1:7301"},
		"advertised":                         {Config{GRPCAddr: "0.0.0.0:7001", PeerAddr: "0.0.0.0:7301", AdvertisePeerAddr: "10.0.0.1:7301"}, "0.0.0.0:7301", "0.0.0.0:7301", "10.0.0.1:7301"},
		"unspecified: advertised grpc host":  {Config{GRPCAddr: "0.0.0.0:7001", AdvertiseGRPCAddr: "10.0.0.2:7001"}, "[::]:41234", "0.0.0.0:0", "10.0.0.2:41234"},
		"advertised grpc host":               {Config{GRPCAddr: "10.0.0.9:7001", AdvertiseGRPCAddr: "203.0.113.7:7001"}, "10.0.0.9:41234", "10.0.0.9:0", "203.0.113.7:41234"},
		"ipv6 grpc host":                     {Config{GRPCAddr: "[::1]:7001"}, "[::1]:41234", "[::1]:0", "[::1]:41234"},
		"every interface: gossip host":       {Config{GRPCAddr: "0.0.0.0:7001", GossipAddr: "10.0.0.3:7101"}, "[::]:41234", "0.0.0.0:0", "10.0.0.3:41234"},
		"peer on every interface: grpc host": {Config{GRPCAddr: "10.0.0.4:7001", PeerAddr: "0.0.0.0:7301"}, "[::]:7301", "0.0.0.0:7301", "10.0.0.4:7301"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := peerBindAddr(tc.cfg); got != tc.bind {
				t.Errorf("peerBindAddr = %s, want %s", got, tc.bind)
			}
			if got := advertisedPeerAddr(tc.cfg, tc.bound); got != tc.advertise {
				t.Errorf("advertisedPeerAddr(%s) = %s, want %s", tc.bound, got, tc.advertise)
			}
		})
	}
}

func TestAdvertisedAddrs(t *testing.T) {
	tests := map[string]struct {
		cfg                Config
		grpcBound          string
		grpc, gossip, resp string
	}{
		"loopback: the bound addresses": {Config{GRPCAddr: "127.0.0.1:7001", GossipAddr: "127.0.0.1:7101"}, "127.0.0.1:7001",
			"127.0.0.1:7001", "127.0.0.1:7101", ""},
		"every interface, advertised gRPC": {Config{GRPCAddr: "0.0.0.0:7001", GossipAddr: "0.0.0.0:7101", RESPAddr: "0.0.0.0:7201", AdvertiseGRPCAddr: "10.0.0.1:7001"},
			"[::]:7001", "10.0.0.1:7001", "10.0.0.1:7101", "10.0.0.1:7201"},
		"each advertised": {Config{GRPCAddr: "0.0.0.0:7001", GossipAddr: "0.0.0.0:7101", RESPAddr: ":7201",
			AdvertiseGRPCAddr: "a.example:1", AdvertiseGossipAddr: "10.0.0.2:2", AdvertiseRESPAddr: "10.0.0.3:3"},
			"[::]:7001", "a.example:1", "10.0.0.2:2", "10.0.0.3:3"},
		"gossip on every interface: the gRPC host": {Config{GRPCAddr: "10.0.0.5:7001", GossipAddr: "0.0.0.0:7101"}, "10.0.0.5:7001",
			"10.0.0.5:7001", "10.0.0.5:7101", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := advertisedGRPCAddr(tc.cfg, tc.grpcBound); got != tc.grpc {
				t.Errorf("gRPC: %s, want %s", got, tc.grpc)
			}
			if got := advertisedGossipAddr(tc.cfg); got != tc.gossip {
				t.Errorf("gossip: %s, want %s", got, tc.gossip)
			}
			if got := advertisedRESPAddr(tc.cfg, tc.cfg.RESPAddr); got != tc.resp {
				t.Errorf("RESP: %s, want %s", got, tc.resp)
			}
		})
	}
}
