package cluster

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/cluster/ring"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

func TestCodec_tableRoundTrip(t *testing.T) {
	es := []Entry{
		{ID: "n1", GRPCAddr: "127.0.0.1:7001", GossipAddr: "127.0.0.1:7101", PeerAddr: "127.0.0.1:7301", RESPAddr: "10.0.0.1:7201", VNodes: 64, State: ring.Normal, Version: 3},
		{ID: "n2", GRPCAddr: "127.0.0.1:7002", GossipAddr: "127.0.0.1:7102", VNodes: 0, State: ring.Removed, Version: 9},
		{ID: "n3", GRPCAddr: "127.0.0.1:7003", GossipAddr: "127.0.0.1:7103", VNodes: 8, State: ring.Joining, Version: 1},
		{ID: "n5", GRPCAddr: "127.0.0.1:7005", GossipAddr: "127.0.0.1:7105", VNodes: 64, State: ring.Normal, Version: 4, TokensOf: "n2"},
	}
	b, err := encodeTable(es)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeTable(b)
	if err != nil {
		t.Fatal(err)
	}
	if !equalTables(got, mergeAllOf(es)) {
		t.Fatalf("round trip: got %v, want %v", got.sorted(), es)
	}
	if _, err := decodeTable([]byte{0xff, 0xff}); err == nil {
		t.Fatal("decodeTable accepted garbage")
	}
}

// A table persisted by a release without the RESP address (fields 1 to 7
// of MemberEntry) still decodes, with an empty RESPAddr.
func TestCodec_decodesTableWithoutRESPAddr(t *testing.T) {
	old := &quorumkvv1.MemberTable{Members: []*quorumkvv1.MemberEntry{{Id: "n1", GrpcAddr: "127.0.0.1:7001", GossipAddr: "127.0.0.1:7101",
		PeerAddr: "127.0.0.1:7301", Vnodes: 64, State: quorumkvv1.RingState_RING_STATE_NORMAL, Version: 2}}}
	b, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeTable(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{ID: "n1", GRPCAddr: "127.0.0.1:7001", GossipAddr: "127.0.0.1:7101", PeerAddr: "127.0.0.1:7301", VNodes: 64, State: ring.Normal, Version: 2}
	if got["n1"] != want {
		t.Fatalf("decoded %+v, want %+v", got["n1"], want)
	}
}

func TestCodec_gossipRoundTrip(t *testing.T) {
	s := testSettings(3)
	es := []Entry{{ID: "n1", GRPCAddr: "a:1", GossipAddr: "a:2", VNodes: 4, State: ring.Leaving, Version: 7}}
	g, err := decodeGossip(encodeGossip(s.ClusterID, es))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.clusterID, s.ClusterID[:]) || len(g.entries) != 1 || g.entries[0] != es[0] {
		t.Fatalf("got %+v", g)
	}
	if g.settings != nil || g.secret != nil {
		t.Fatalf("settings or secret decoded from gossip: %+v", g)
	}
	got, err := settingsFromProto(settingsToProto(s), s.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if !got.equal(s) {
		t.Fatalf("settings round trip: got %+v, want %+v", got, s)
	}
}

func TestSettings_Validate(t *testing.T) {
	ok := testSettings(3)
	tests := map[string]func(*Settings){
		"zero cluster id":         func(s *Settings) { s.ClusterID = [16]byte{} },
		"replication factor 0":    func(s *Settings) { s.ReplicationFactor = 0 },
		"partitions not a power":  func(s *Settings) { s.Partitions = 1000 },
		"partitions 0":            func(s *Settings) { s.Partitions = 0 },
		"partitions above MaxQ":   func(s *Settings) { s.Partitions = ring.MaxQ * 2 },
		"unknown conflict policy": func(s *Settings) { s.Conflict = "crdt" },
		"no secret":               func(s *Settings) { s.Secret = nil },
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid settings refused: %v", err)
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			s := ok.clone()
			mutate(&s)
			if err := s.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// FuzzDecodeGossip checks that no gossip payload makes the decoder or the
// merge panic, and that the merge keeps only valid entries.
func FuzzDecodeGossip(f *testing.F) {
	s := testSettings(3)
	f.Add(encodeGossip(s.ClusterID, []Entry{{ID: "n1", GRPCAddr: "a:1", GossipAddr: "a:2", VNodes: 4, State: ring.Normal, Version: 1}}))
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x03, 0x0a, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := decodeGossip(b)
		if err != nil {
			return
		}
		tb := table{}
		tb.mergeAll(g.entries)
		for _, e := range tb {
			if !e.valid() {
				t.Fatalf("invalid entry merged: %+v", e)
			}
		}
		if _, err := ring.New(tb.ringMembers(), 3, 16); err != nil {
			t.Fatalf("merged table gives no ring: %v", err)
		}
		if g.settings != nil {
			_, _ = settingsFromProto(g.settings, g.secret)
		}
	})
}

// A replacer's token seed travels in gossip and merges like the other
// fields; gossip from a release without it (field 9 absent) decodes with
// an empty TokensOf, the node's own tokens.
func TestCodec_gossipTokensOf(t *testing.T) {
	s := testSettings(3)
	e := Entry{ID: "n5", GRPCAddr: "a:1", GossipAddr: "a:2", VNodes: 64, State: ring.Joining, Version: 1, TokensOf: "n3"}
	g, err := decodeGossip(encodeGossip(s.ClusterID, []Entry{e}))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.entries) != 1 || g.entries[0] != e {
		t.Fatalf("decoded %+v, want %+v", g.entries, e)
	}
	tb := table{}
	if !tb.merge(g.entries[0]) {
		t.Fatal("decoded entry not merged")
	}
	if got := tb.ringMembers(); len(got) != 1 || got[0].TokensOf != "n3" {
		t.Fatalf("ring members %+v, want n5 with the tokens of n3", got)
	}

	old := &quorumkvv1.GossipState{ClusterId: s.ClusterID[:], Table: &quorumkvv1.MemberTable{Members: []*quorumkvv1.MemberEntry{{
		Id: "n1", GrpcAddr: "a:1", GossipAddr: "a:2", PeerAddr: "a:3", RespAddr: "a:4", Vnodes: 64,
		State: quorumkvv1.RingState_RING_STATE_NORMAL, Version: 2}}}}
	b, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if g, err = decodeGossip(b); err != nil {
		t.Fatal(err)
	}
	want := Entry{ID: "n1", GRPCAddr: "a:1", GossipAddr: "a:2", PeerAddr: "a:3", RESPAddr: "a:4", VNodes: 64, State: ring.Normal, Version: 2}
	if len(g.entries) != 1 || g.entries[0] != want {
		t.Fatalf("old gossip decoded %+v, want %+v", g.entries, want)
	}
}
