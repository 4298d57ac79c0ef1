package node

import (
	"crypto/rand"
	"fmt"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
)

// grpcOverhead is the room left above the largest value in a gRPC message,
// for the key, the token and framing.
const grpcOverhead = 1 << 20

// grpcServer returns the gRPC server of the client API and the peer
// services, nothing served yet.
func (n *node) grpcServer() *grpc.Server {
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(max(n.cfg.MaxValueBytes+n.cfg.MaxKeyBytes+grpcOverhead, replication.MaxMessageBytes)),
		grpc.MaxSendMsgSize(replication.MaxMessageBytes),
		grpc.ChainUnaryInterceptor(n.metrics.unaryInterceptor),
	)
	pb.RegisterKVServer(srv, &kvServer{n: n})
	healthpb.RegisterHealthServer(srv, healthService{Server: n.health, stop: n.draining})
	merkle := replication.NewMerkleService(n.store, replication.WithReplicates(func(p keyspace.Partition) bool {
		r := ringView{n}.Load()
		return r != nil && r.IsReplica(int(p), n.cfg.NodeID)
	}))
	pb.RegisterReplicaServer(srv, &replicaServer{svc: n.exchange, streamer: replication.NewPartitionStreamer(n.store), merkle: merkle})
	return srv
}

// replicaClient returns a client of member id's Replica service.
func (n *node) replicaClient(id string) (pb.ReplicaClient, error) {
	addr, ok := n.resolve(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s", replication.ErrPeerUnknown, id)
	}
	conn, err := n.peers.get(addr)
	if err != nil {
		return nil, err
	}
	return pb.NewReplicaClient(conn), nil
}

// initialSettings returns the settings the node starts with: those
// persisted, or, for a node that has not adopted its cluster's yet, the
// policy of its flags and a token secret of its own.
func initialSettings(cfg Config, persisted *cluster.Settings) (cluster.Settings, error) {
	if persisted != nil {
		return *persisted, nil
	}
	s := cluster.Settings{Conflict: cfg.Conflict.String(), Secret: make([]byte, 32)}
	if _, err := rand.Read(s.Secret); err != nil {
		return cluster.Settings{}, err
	}
	return s, nil
}
