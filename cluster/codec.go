package cluster

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/cluster/ring"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

func stateToProto(s ring.State) quorumkvv1.RingState {
	switch s {
	case ring.Joining:
		return quorumkvv1.RingState_RING_STATE_JOINING
	case ring.Normal:
		return quorumkvv1.RingState_RING_STATE_NORMAL
	case ring.Leaving:
		return quorumkvv1.RingState_RING_STATE_LEAVING
	case ring.Left:
		return quorumkvv1.RingState_RING_STATE_LEFT
	case ring.Removed:
		return quorumkvv1.RingState_RING_STATE_REMOVED
	}
	return quorumkvv1.RingState_RING_STATE_UNSPECIFIED
}

func stateFromProto(s quorumkvv1.RingState) ring.State {
	switch s {
	case quorumkvv1.RingState_RING_STATE_JOINING:
		return ring.Joining
	case quorumkvv1.RingState_RING_STATE_NORMAL:
		return ring.Normal
	case quorumkvv1.RingState_RING_STATE_LEAVING:
		return ring.Leaving
	case quorumkvv1.RingState_RING_STATE_LEFT:
		return ring.Left
	case quorumkvv1.RingState_RING_STATE_REMOVED:
		return ring.Removed
	}
	return 0
}

func entryToProto(e Entry) *quorumkvv1.MemberEntry {
	return &quorumkvv1.MemberEntry{
		Id:         e.ID,
		GrpcAddr:   e.GRPCAddr,
		GossipAddr: e.GossipAddr,
		PeerAddr:   e.PeerAddr,
		RespAddr:   e.RESPAddr,
		TokensOf:   e.TokensOf,
		Vnodes:     uint32(e.VNodes),
		State:      stateToProto(e.State),
		Version:    e.Version,
	}
}

// entryFromProto converts without validating; table.merge drops invalid
// entries.
func entryFromProto(p *quorumkvv1.MemberEntry) Entry {
	vn := int(min(p.GetVnodes(), uint32(ring.MaxVNodes+1)))
	return Entry{
		ID:         p.GetId(),
		GRPCAddr:   p.GetGrpcAddr(),
		GossipAddr: p.GetGossipAddr(),
		PeerAddr:   p.GetPeerAddr(),
		RESPAddr:   p.GetRespAddr(),
		TokensOf:   p.GetTokensOf(),
		VNodes:     vn,
		State:      stateFromProto(p.GetState()),
		Version:    p.GetVersion(),
	}
}

func entriesToProto(es []Entry) *quorumkvv1.MemberTable {
	t := &quorumkvv1.MemberTable{Members: make([]*quorumkvv1.MemberEntry, len(es))}
	for i, e := range es {
		t.Members[i] = entryToProto(e)
	}
	return t
}

func entriesFromProto(t *quorumkvv1.MemberTable) []Entry {
	out := make([]Entry, 0, len(t.GetMembers()))
	for _, p := range t.GetMembers() {
		out = append(out, entryFromProto(p))
	}
	return out
}

// encodeTable encodes entries as the persisted MemberTable.
func encodeTable(es []Entry) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(entriesToProto(es))
}

// decodeTable decodes a persisted MemberTable; invalid entries are dropped.
func decodeTable(b []byte) (table, error) {
	var pt quorumkvv1.MemberTable
	if err := proto.Unmarshal(b, &pt); err != nil {
		return nil, fmt.Errorf("cluster: decoding the persisted member table: %w", err)
	}
	t := table{}
	t.mergeAll(entriesFromProto(&pt))
	return t, nil
}

// gossip is a decoded GossipState, or a Join answer.
type gossip struct {
	clusterID []byte
	entries   []Entry
	settings  *quorumkvv1.ClusterSettings // set only from a Join answer
	secret    []byte                      // set only from a Join answer
}

func encodeGossip(clusterID [16]byte, es []Entry) []byte {
	st := &quorumkvv1.GossipState{ClusterId: clusterID[:], Table: entriesToProto(es)}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		// Marshalling a message built from valid Go values cannot fail.
		panic(fmt.Sprintf("cluster: encoding gossip state: %v", err))
	}
	return b
}

func decodeGossip(b []byte) (gossip, error) {
	var st quorumkvv1.GossipState
	if err := proto.Unmarshal(b, &st); err != nil {
		return gossip{}, fmt.Errorf("cluster: decoding gossip state: %w", err)
	}
	return gossip{clusterID: st.GetClusterId(), entries: entriesFromProto(st.GetTable())}, nil
}

// nodeMeta is the memberlist node meta: the node's id, gRPC and peer
// addresses, as a MemberEntry with only those fields set.
func nodeMeta(id, grpcAddr, peerAddr string) []byte {
	b, err := proto.Marshal(&quorumkvv1.MemberEntry{Id: id, GrpcAddr: grpcAddr, PeerAddr: peerAddr})
	if err != nil {
		panic(fmt.Sprintf("cluster: encoding node meta: %v", err))
	}
	return b
}
