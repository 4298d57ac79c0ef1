package node

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/internal/testkit"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// A node bound to every interface publishes, in the member list and the
// ring table token-aware clients dial, the addresses it advertises:
// --advertise-grpc-addr, and its host on the gossip and peer ports; a
// token-aware client then works through them.
func TestNode_bindsEveryInterfaceAdvertisesItsAddress(t *testing.T) {
	_, grpcPort, _ := net.SplitHostPort(testkit.FreeAddr(t))
	_, gossipPort, _ := net.SplitHostPort(testkit.FreeAddr(t))
	cfg := testConfig(t, t.TempDir(), "n1")
	cfg.GRPCAddr, cfg.GossipAddr = "0.0.0.0:"+grpcPort, "0.0.0.0:"+gossipPort
	cfg.AdvertiseGRPCAddr = "127.0.0.1:" + grpcPort
	cfg.Insecure = true // plain traffic on 0.0.0.0, in a test
	n1 := start(t, cfg)
	await(t, 10*time.Second, "n1 normal", func() error { return allNormal([]*testNode{n1}, 1) })

	conn, err := grpc.NewClient("127.0.0.1:"+grpcPort, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv := pb.NewKVClient(conn)
	ms, err := kv.Members(ctx, &pb.MembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	m := ms.GetMembers()[0]
	_, peerPort, _ := net.SplitHostPort(n1.n.peerLis.Addr().String())
	if m.GetGrpcAddr() != "127.0.0.1:"+grpcPort || m.GetGossipAddr() != "127.0.0.1:"+gossipPort || m.GetPeerAddr() != "127.0.0.1:"+peerPort {
		t.Fatalf("member %+v: want the advertised 127.0.0.1 addresses", m)
	}
	table, err := kv.RingTable(ctx, &pb.RingTableRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if nodes := table.GetNodes(); len(nodes) != 1 || nodes[0].GetGrpcAddr() != "127.0.0.1:"+grpcPort {
		t.Fatalf("ring table nodes %v: want n1 at its advertised gRPC address", nodes)
	}

	c, err := client.New([]string{"127.0.0.1:" + grpcPort}, client.WithTokenAware(time.Second), client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Put(ctx, []byte("k"), []byte("v"), client.WithConsistency(client.All)); err != nil {
		t.Fatalf("token-aware put: %v", err)
	}
	if got, err := c.Get(ctx, []byte("k")); err != nil || string(got.Values[0]) != "v" {
		t.Fatalf("token-aware get: %+v, %v", got, err)
	}
}
