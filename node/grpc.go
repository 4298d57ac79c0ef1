package node

import (
	"crypto/rand"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/conflict"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/antientropy"
)

// clientOverhead is the room a client request has above its key, value
// and context token: the other fields and the protobuf framing.
const clientOverhead = 64 << 10

// clientMaxRecvBytes is the client listener's receive limit: the largest
// key, value and context token and clientOverhead. gRPC refuses a larger
// message with ResourceExhausted from its length prefix, before reading
// it whole, so a client cannot make the node buffer more than that per
// request. A set add carries at most the value limit in members (the
// coordinator refuses more), so it fits too.
func clientMaxRecvBytes(cfg Config) int {
	return cfg.MaxKeyBytes + cfg.MaxValueBytes + conflict.MaxTokenBytes + clientOverhead
}

// streamWorkers is how many goroutines each gRPC server keeps to serve
// requests. A request that finds them all busy gets a goroutine of its
// own, as without the pool; a worker's stack stays grown between requests,
// where a fresh goroutine per request pays for growing it every time (a
// put goes deep: coordinator, storage, bbolt).
const streamWorkers = 128

// clientServer returns the gRPC server of the client listener: the KV
// and health services, nothing served yet. Replica traffic goes to the
// peer listener (peerServer), never here.
func (n *node) clientServer() (*grpc.Server, error) {
	srv := grpc.NewServer(append(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(clientMaxRecvBytes(n.cfg)),
		grpc.MaxSendMsgSize(replication.MaxMessageBytes),
		grpc.NumStreamWorkers(streamWorkers),
	}, n.metrics.components.serverOptions()...), n.securityServerOptions(n.metrics.unaryInterceptor, false)...)...)
	pb.RegisterKVServer(srv, &kvServer{n: n})
	healthpb.RegisterHealthServer(srv, healthService{Server: n.health, stop: n.draining})
	n.metrics.components.grpcServer.InitializeMetrics(srv)
	return srv, nil
}

// peerServer returns the gRPC server of the peer listener: the Replica
// service (replica streams, Merkle trees, fetch, purge, partition
// streaming, Join, KeyringApply, HandOffAck) and the KV service for the client
// requests other nodes forward here, nothing served yet. Its messages
// carry whole objects (replication.MaxMessageBytes). With TLS on it
// accepts node certificates only.
func (n *node) peerServer() (*grpc.Server, error) {
	// A pending replica answers for the partitions moving to it, so that
	// a leaving node can hand them over with an anti-entropy pass.
	merkle, err := antientropy.NewMerkleService(antientropy.MerkleServiceConfig{Replicates: n.holdsPartition}, n.store)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(append(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(replication.MaxMessageBytes),
		grpc.MaxSendMsgSize(replication.MaxMessageBytes),
		grpc.NumStreamWorkers(streamWorkers),
	}, n.metrics.components.serverOptions()...), n.securityServerOptions(n.metrics.unaryInterceptor, true)...)...)
	pb.RegisterKVServer(srv, &kvServer{n: n})
	pb.RegisterReplicaServer(srv, &replicaServer{svc: n.exchange, streamer: antientropy.NewPartitionStreamer(n.store), merkle: merkle, join: n.serveJoin, keyring: n.serveKeyringApply,
		handOffAck: n.serveHandOffAck})
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
