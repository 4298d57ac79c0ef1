package node

import (
	"crypto/rand"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// Metadata names in the storage engine.
const (
	metaNodeID   = "node_id"
	metaSettings = "cluster_settings"
	metaSecret   = "cluster_secret"
)

// clusterState is what a node knows of its cluster.
type clusterState struct {
	joined   bool
	settings *pb.ClusterSettings
	keyring  *conflict.Keyring
}

// bootstrap checks the data dir belongs to this node, then loads the
// cluster settings, or creates a cluster when the node was started without
// --join on an empty data dir. A node started with --join that has none
// stays not joined: it keeps the settings of its flags and a keyring of its
// own until a seed answers.
func bootstrap(cfg Config, eng *storage.Engine, log *slog.Logger) (*clusterState, error) {
	id, ok, err := eng.Meta(metaNodeID)
	if err != nil {
		return nil, err
	}
	switch {
	case !ok:
		if err := eng.PutMeta(metaNodeID, []byte(cfg.NodeID)); err != nil {
			return nil, err
		}
	case string(id) != cfg.NodeID:
		return nil, flagErr("node-id", "is %q but data dir %q belongs to node %q", cfg.NodeID, cfg.DataDir, id)
	}

	raw, ok, err := eng.Meta(metaSettings)
	if err != nil {
		return nil, err
	}
	if ok {
		s := &pb.ClusterSettings{}
		if err := proto.Unmarshal(raw, s); err != nil {
			return nil, fmt.Errorf("data dir %q: cluster settings are corrupt: %w", cfg.DataDir, err)
		}
		if err := checkSettings(cfg, s); err != nil {
			return nil, err
		}
		secret, _, err := eng.Meta(metaSecret)
		if err != nil {
			return nil, err
		}
		kr, err := newKeyring(s, secret)
		if err != nil {
			return nil, fmt.Errorf("data dir %q: %w", cfg.DataDir, err)
		}
		return &clusterState{joined: true, settings: s, keyring: kr}, nil
	}

	s := &pb.ClusterSettings{
		ClusterId:         make([]byte, conflict.ClusterIDSize),
		ReplicationFactor: uint32(cfg.ReplicationFactor),
		Partitions:        keyspace.Q,
		Conflict:          policyToProto(cfg.Conflict),
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if len(cfg.Join) > 0 {
		// Not joined: nothing is persisted, so the settings and secret of the
		// cluster are adopted when a seed answers.
		kr, err := newKeyring(s, secret)
		if err != nil {
			return nil, err
		}
		log.Warn("not joined: joining through --join is not built yet; this node serves ONE only", "join", cfg.Join)
		return &clusterState{settings: s, keyring: kr}, nil
	}
	if _, err := rand.Read(s.ClusterId); err != nil {
		return nil, err
	}
	raw, err = proto.Marshal(s)
	if err != nil {
		return nil, err
	}
	// The secret first: a crash in between leaves no settings, so the next
	// start creates the cluster again rather than finding it without secret.
	if err := eng.PutMeta(metaSecret, secret); err != nil {
		return nil, err
	}
	if err := eng.PutMeta(metaSettings, raw); err != nil {
		return nil, err
	}
	kr, err := newKeyring(s, secret)
	if err != nil {
		return nil, err
	}
	log.Info("created a new cluster", "cluster_id", fmt.Sprintf("%x", s.ClusterId),
		"replication_factor", s.ReplicationFactor, "conflict", cfg.Conflict)
	return &clusterState{joined: true, settings: s, keyring: kr}, nil
}

// checkSettings refuses a node whose flags differ from its cluster's
// settings, naming the setting.
func checkSettings(cfg Config, s *pb.ClusterSettings) error {
	if int(s.ReplicationFactor) != cfg.ReplicationFactor {
		return flagErr("replication-factor", "is %d but the cluster was created with %d", cfg.ReplicationFactor, s.ReplicationFactor)
	}
	if p := policyFromProto(s.Conflict); p != cfg.Conflict {
		return flagErr("conflict", "is %s but the cluster was created with %s", cfg.Conflict, p)
	}
	if s.Partitions != keyspace.Q {
		return fmt.Errorf("cluster has %d partitions; this build supports %d only", s.Partitions, keyspace.Q)
	}
	return nil
}

func newKeyring(s *pb.ClusterSettings, secret []byte) (*conflict.Keyring, error) {
	var id [conflict.ClusterIDSize]byte
	if len(s.ClusterId) != len(id) {
		return nil, fmt.Errorf("cluster id is %d bytes, want %d", len(s.ClusterId), len(id))
	}
	copy(id[:], s.ClusterId)
	return conflict.NewKeyring(id, secret)
}

func policyToProto(p conflict.Policy) pb.ConflictPolicy {
	if p == conflict.Siblings {
		return pb.ConflictPolicy_CONFLICT_POLICY_SIBLINGS
	}
	return pb.ConflictPolicy_CONFLICT_POLICY_LWW
}

func policyFromProto(p pb.ConflictPolicy) conflict.Policy {
	if p == pb.ConflictPolicy_CONFLICT_POLICY_SIBLINGS {
		return conflict.Siblings
	}
	return conflict.LWW
}
