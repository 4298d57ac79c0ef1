package node

import (
	"crypto/rand"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/antientropy"
)

// grpcOverhead is the room left above the largest value in a gRPC message,
// for the key, the token and framing.
const grpcOverhead = 1 << 20

// grpcServer returns the gRPC server of the client API and the peer
// services, nothing served yet.
func (n *node) grpcServer() (*grpc.Server, error) {
	merkle, err := antientropy.NewMerkleService(antientropy.MerkleServiceConfig{Replicates: func(p keyspace.Partition) bool {
		r := ringView{n}.Load()
		return r != nil && r.IsReplica(int(p), n.cfg.NodeID)
	}}, n.store)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(append(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(max(n.cfg.MaxValueBytes+n.cfg.MaxKeyBytes+grpcOverhead, replication.MaxMessageBytes)),
		grpc.MaxSendMsgSize(replication.MaxMessageBytes),
	}, n.metrics.components.serverOptions()...), n.securityServerOptions(n.metrics.unaryInterceptor)...)...)
	pb.RegisterKVServer(srv, &kvServer{n: n})
	healthpb.RegisterHealthServer(srv, healthService{Server: n.health, stop: n.draining})
	pb.RegisterReplicaServer(srv, &replicaServer{svc: n.exchange, streamer: antientropy.NewPartitionStreamer(n.store), merkle: merkle, join: n.serveJoin, keyring: n.serveKeyringApply})
	n.metrics.components.grpcServer.InitializeMetrics(srv)
	return srv, nil
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
