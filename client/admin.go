package client

import (
	"context"
	"fmt"
	"slices"
	"time"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// Member is one node of the cluster as the answering node sees it. Its JSON
// form is the member object of kvctl members -o json.
type Member struct {
	ID         string `json:"id"`
	GRPCAddr   string `json:"grpc_addr"`
	GossipAddr string `json:"gossip_addr"`
	// PeerAddr is the node's node-to-node address; empty when the node
	// announced none.
	PeerAddr string `json:"peer_addr,omitempty"`
	// RESPAddr is the node's Redis protocol address; empty when it serves
	// none.
	RESPAddr  string    `json:"resp_addr,omitempty"`
	State     Liveness  `json:"state"`
	RingState RingState `json:"ring_state"`
	// Ownership is the node's share of the ring, between 0 and 1.
	Ownership float64 `json:"ownership"`
	// Replaces is the id of the member whose ring place the node took
	// (kvnode --replace); empty otherwise.
	Replaces string `json:"replaces,omitempty"`
}

// Liveness is what the failure detector believes about a member.
type Liveness int

// The values of Liveness.
const (
	// LivenessUnknown: not known to the failure detector.
	LivenessUnknown Liveness = iota
	Alive
	Suspect
	Dead
)

// String returns alive, suspect, dead or unknown.
func (l Liveness) String() string {
	switch l {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	case LivenessUnknown:
		return "unknown"
	}
	return fmt.Sprintf("Liveness(%d)", int(l))
}

// MarshalText renders the value as String does.
func (l Liveness) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// RingState is a member's place in the ring.
type RingState int

// The values of RingState.
const (
	// RingStateUnknown: not set (never valid in a member table).
	RingStateUnknown RingState = iota
	Joining
	Normal
	Leaving
	Left
	Removed
)

// String returns joining, normal, leaving, left, removed or unknown.
func (s RingState) String() string {
	switch s {
	case Joining:
		return "joining"
	case Normal:
		return "normal"
	case Leaving:
		return "leaving"
	case Left:
		return "left"
	case Removed:
		return "removed"
	case RingStateUnknown:
		return "unknown"
	}
	return fmt.Sprintf("RingState(%d)", int(s))
}

// MarshalText renders the value as String does.
func (s RingState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Placement is where a key lives, as the answering node sees the ring.
type Placement struct {
	// Partition is the key's partition, in [0, Q).
	Partition uint32
	// Replicas are the node ids of the partition's replicas, in preference
	// order.
	Replicas []string
}

// Status is the answering node's own state.
type Status struct {
	NodeID string
	// Joined is true once the node belongs to a cluster.
	Joined bool
	// MembersAlive counts the members believed alive, this node included.
	MembersAlive int
	// Keys counts stored objects with a live sibling or member.
	Keys uint64
	// Tombstones counts stored objects with nothing live.
	Tombstones   uint64
	HintsPending uint64
	// StorageBytes is the size of the node's data file.
	StorageBytes uint64
	// LiveBytes is the part of StorageBytes that holds data (the rest is
	// free pages, given back by kvctl compact); 0 from a node that does
	// not report it.
	LiveBytes uint64
	// LastAntiEntropy is the most recent round with each peer; empty (not
	// nil) before the first round.
	LastAntiEntropy []AntiEntropyRound
	// Digest is the node's data digest: 16 bytes, a big-endian uint128.
	Digest []byte
	// PartitionRoots maps each partition the node is a current replica of
	// to its Merkle root. Only ClusterStatus asks for it; nil otherwise.
	PartitionRoots map[uint32][]byte
	// PartitionsMoving counts the partitions moving to or from the node in
	// its ring change under way (filled while it joins, handed over while
	// it leaves); 0 when none is under way. PartitionsMoved counts those
	// already done.
	PartitionsMoving, PartitionsMoved int
	// MovingOut is true when the node sends the partitions moving (it
	// leaves), false when it receives them.
	MovingOut bool
	// BytesMoved counts the bytes moved so far in this run of the change.
	BytesMoved uint64
	// MoveETA is the estimated time until every partition is moved, at the
	// rate so far; 0 when unknown or none is moving.
	MoveETA time.Duration
}

// AntiEntropyRound summarizes the last anti-entropy round with one peer.
type AntiEntropyRound struct {
	Peer               string
	Time               time.Time
	PartitionsCompared int
	KeysExchanged      uint64
}

// RepairResult says which peers an anti-entropy round covers.
type RepairResult struct {
	// Peers the round exchanges with (with wait: those it finished with,
	// never one listed in Failed).
	Peers []string
	// Failed lists the peers the round failed with (unreachable, or
	// answering with an error), each with the reason.
	Failed []ReplicaFailure
}

// Members lists every member the answering node knows, sorted by id.
func (c *Client) Members(ctx context.Context, opts ...CallOption) ([]Member, error) {
	var resp *quorumkvv1.MembersResponse
	err := c.invoke(ctx, c.callConfig(opts), false, func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		resp, err = kv.Members(ctx, &quorumkvv1.MembersRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(resp.GetMembers()))
	for _, m := range resp.GetMembers() {
		out = append(out, Member{
			ID:         m.GetId(),
			GRPCAddr:   m.GetGrpcAddr(),
			GossipAddr: m.GetGossipAddr(),
			PeerAddr:   m.GetPeerAddr(),
			RESPAddr:   m.GetRespAddr(),
			State:      Liveness(m.GetState()),
			RingState:  RingState(m.GetRingState()),
			Ownership:  m.GetOwnership(),
			Replaces:   m.GetReplaces(),
		})
	}
	return out, nil
}

// Ring tells which partition key falls in and which nodes replicate it.
func (c *Client) Ring(ctx context.Context, key []byte, opts ...CallOption) (*Placement, error) {
	var resp *quorumkvv1.RingResponse
	err := c.invoke(ctx, c.callConfig(opts), false, func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		resp, err = kv.Ring(ctx, &quorumkvv1.RingRequest{Key: key})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Placement{Partition: resp.GetPartition(), Replicas: nonNil(resp.GetReplicas())}, nil
}

// Status reports the state of the node that answers (see Status.NodeID).
func (c *Client) Status(ctx context.Context, opts ...CallOption) (*Status, error) {
	var resp *quorumkvv1.StatusResponse
	err := c.invoke(ctx, c.callConfig(opts), false, func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		resp, err = kv.Status(ctx, &quorumkvv1.StatusRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return statusFromProto(resp), nil
}

func statusFromProto(resp *quorumkvv1.StatusResponse) *Status {
	s := &Status{
		NodeID:          resp.GetNodeId(),
		Joined:          resp.GetJoined(),
		MembersAlive:    int(resp.GetMembersAlive()),
		Keys:            resp.GetKeys(),
		Tombstones:      resp.GetTombstones(),
		HintsPending:    resp.GetHintsPending(),
		StorageBytes:    resp.GetStorageBytes(),
		LiveBytes:       resp.GetLiveBytes(),
		LastAntiEntropy: make([]AntiEntropyRound, 0, len(resp.GetLastAntiEntropy())),
		Digest:          resp.GetDigest(),

		PartitionsMoving: int(resp.GetPartitionsMoving()),
		PartitionsMoved:  int(resp.GetPartitionsMoved()),
		MovingOut:        resp.GetMovingOut(),
		BytesMoved:       resp.GetBytesMoved(),
		MoveETA:          time.Duration(resp.GetMoveEtaSeconds()) * time.Second,
	}
	for _, r := range resp.GetLastAntiEntropy() {
		round := AntiEntropyRound{
			Peer:               r.GetPeer(),
			PartitionsCompared: int(r.GetPartitionsCompared()),
			KeysExchanged:      r.GetKeysExchanged(),
		}
		if r.GetTime() != nil {
			round.Time = r.GetTime().AsTime()
		}
		s.LastAntiEntropy = append(s.LastAntiEntropy, round)
	}
	if roots := resp.GetPartitionRoots(); len(roots) > 0 {
		s.PartitionRoots = make(map[uint32][]byte, len(roots))
		for _, r := range roots {
			s.PartitionRoots[r.GetPartition()] = r.GetRoot()
		}
	}
	return s
}

// Repair starts an anti-entropy round on the answering node with every peer
// it shares partitions with. With wait it returns once the round has
// finished with every peer (give it a long enough WithTimeout). Peers that
// cannot be reached do not fail the call: they are listed in Failed.
func (c *Client) Repair(ctx context.Context, wait bool, opts ...CallOption) (*RepairResult, error) {
	var resp *quorumkvv1.RepairResponse
	err := c.invoke(ctx, c.callConfig(opts), false, func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		resp, err = kv.Repair(ctx, &quorumkvv1.RepairRequest{Wait: wait})
		return err
	})
	if err != nil {
		return nil, err
	}
	res := &RepairResult{Peers: []string{}, Failed: failuresFromProto(resp.GetFailed())}
	// A node may list a failed peer among the peers too: Peers keeps only
	// those the round did not fail with, so Peers and Failed never overlap.
	for _, p := range resp.GetPeers() {
		if !slices.ContainsFunc(res.Failed, func(f ReplicaFailure) bool { return f.ID == p }) {
			res.Peers = append(res.Peers, p)
		}
	}
	return res, nil
}

// Leave decommissions the node at the first endpoint. It never falls over
// to another endpoint, so it cannot decommission a node the caller did not
// name: when the first endpoint does not answer it fails with ErrNoEndpoint.
// Unless force, it fails with ErrFailedPrecondition when the cluster would
// drop below the replication factor.
func (c *Client) Leave(ctx context.Context, force bool, opts ...CallOption) error {
	return c.invoke(ctx, c.callConfig(opts), true, func(ctx context.Context, kv quorumkvv1.KVClient) error {
		_, err := kv.Leave(ctx, &quorumkvv1.LeaveRequest{Force: force})
		return err
	})
}

// Remove marks the dead node id removed; its partitions are re-replicated.
// It fails with ErrNotFound for an unknown id and ErrFailedPrecondition if
// the node is alive or, unless force, if the cluster would drop below the
// replication factor.
func (c *Client) Remove(ctx context.Context, id string, force bool, opts ...CallOption) error {
	return c.invoke(ctx, c.callConfig(opts), false, func(ctx context.Context, kv quorumkvv1.KVClient) error {
		_, err := kv.Remove(ctx, &quorumkvv1.RemoveRequest{NodeId: id, Force: force})
		return err
	})
}
