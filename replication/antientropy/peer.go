package antientropy

import (
	"context"

	"github.com/quorumkv/quorumkv/conflict"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
)

// PeerDialer gives clients of peers' Replica services, for the Merkle,
// FetchObjects and StreamPartition RPCs. replication.PeerConns implements
// it. ReplicaClient is called at the start of every round or confirmation
// with a peer, concurrently; it must not block on the network (gRPC
// connects lazily) and fails when the peer is unknown. The dialer's owner
// owns the connections: callers never close them.
type PeerDialer interface {
	ReplicaClient(peer string) (pb.ReplicaClient, error)
}

// PeerDialerFunc adapts a function to a PeerDialer.
type PeerDialerFunc func(peer string) (pb.ReplicaClient, error)

// ReplicaClient calls f(peer).
func (f PeerDialerFunc) ReplicaClient(peer string) (pb.ReplicaClient, error) { return f(peer) }

// Pusher sends a local object to a peer, which merges it into its copy
// durably and returns its merged object. replication.Transport implements
// it; a round pushes through it so pushes share the batched replica
// streams. It is called concurrently, blocks until the peer answers or ctx
// is done, and neither changes nor keeps key and obj.
type Pusher interface {
	Apply(ctx context.Context, peer string, key []byte, obj *conflict.Object, hint bool) (*conflict.Object, error)
}

var _ PeerDialer = (*replication.PeerConns)(nil)
