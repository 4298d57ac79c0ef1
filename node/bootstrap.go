package node

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

// Metadata names in the storage engine.
const (
	metaNodeID      = "node_id"
	metaClusterName = "cluster_name"
	metaSettings    = "cluster_settings"
	metaSecret      = "cluster_secret"
)

// checkIdentity refuses a data dir that belongs to another node id or to
// a cluster of another name (a restart under another --cluster-name would
// serve the old cluster's data while gossiping with no one), and records
// both in a new one. A data dir from before names were recorded takes the
// name it is started with.
func checkIdentity(cfg Config, eng *storage.Engine) error {
	for _, c := range []struct{ meta, flag, want, what string }{
		{metaNodeID, "node-id", cfg.NodeID, "node"},
		{metaClusterName, "cluster-name", cfg.ClusterName, "cluster"},
	} {
		got, ok, err := eng.Meta(c.meta)
		if err != nil {
			return err
		}
		if !ok {
			if err := eng.PutMeta(c.meta, []byte(c.want)); err != nil {
				return err
			}
			continue
		}
		if string(got) != c.want {
			return flagErr(c.flag, "is %q but data dir %q belongs to %s %q", c.want, cfg.DataDir, c.what, got)
		}
	}
	return nil
}

// loadSettings returns the cluster settings persisted in the data dir, nil
// when there are none. A node started without --join on an empty data dir
// creates the cluster: a random id and secret, and the settings of its
// flags. A node started with --join never creates one: it adopts its
// cluster's when a seed answers (adoptSettings).
func loadSettings(cfg Config, eng *storage.Engine, log *slog.Logger) (*cluster.Settings, error) {
	raw, ok, err := eng.Meta(metaSettings)
	if err != nil {
		return nil, err
	}
	if ok {
		ps := &pb.ClusterSettings{}
		if err := proto.Unmarshal(raw, ps); err != nil {
			return nil, fmt.Errorf("data dir %q: cluster settings are corrupt: %w", cfg.DataDir, err)
		}
		secret, _, err := eng.Meta(metaSecret)
		if err != nil {
			return nil, err
		}
		s := settingsFromProto(ps, secret)
		if s.MaxKeyBytes == 0 {
			// Persisted before the limits were cluster settings: the
			// node's flags were the limits; record them.
			s.MaxKeyBytes, s.MaxValueBytes, s.MaxObjectBytes = cfg.MaxKeyBytes, cfg.MaxValueBytes, cfg.MaxObjectBytes
			if err := persistSettings(eng, s); err != nil {
				return nil, err
			}
		}
		if err := checkSettings(cfg, s); err != nil {
			return nil, err
		}
		return &s, nil
	}
	if len(cfg.Join) > 0 {
		return nil, nil
	}
	s := cluster.Settings{
		ReplicationFactor: cfg.ReplicationFactor,
		Partitions:        keyspace.Q,
		Conflict:          cfg.Conflict.String(),
		Secret:            make([]byte, 32),
		MaxKeyBytes:       cfg.MaxKeyBytes,
		MaxValueBytes:     cfg.MaxValueBytes,
		MaxObjectBytes:    cfg.MaxObjectBytes,
	}
	if _, err := rand.Read(s.ClusterID[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(s.Secret); err != nil {
		return nil, err
	}
	if err := persistSettings(eng, s); err != nil {
		return nil, err
	}
	log.Info("created a new cluster", "cluster_id", fmt.Sprintf("%x", s.ClusterID),
		"replication_factor", s.ReplicationFactor, "conflict", s.Conflict)
	return &s, nil
}

// persistSettings stores the settings, the secret first: a crash in
// between leaves no settings, so the next start begins again rather than
// finding settings without their secret.
func persistSettings(eng *storage.Engine, s cluster.Settings) error {
	raw, err := proto.Marshal(&pb.ClusterSettings{
		ClusterId:         s.ClusterID[:],
		ReplicationFactor: uint32(s.ReplicationFactor),
		Partitions:        uint32(s.Partitions),
		Conflict:          policyToProto(s.Conflict),
		MaxKeyBytes:       uint32(s.MaxKeyBytes),
		MaxValueBytes:     uint64(s.MaxValueBytes),
		MaxObjectBytes:    uint64(s.MaxObjectBytes),
	})
	if err != nil {
		return err
	}
	if err := eng.PutMeta(metaSecret, s.Secret); err != nil {
		return err
	}
	return eng.PutMeta(metaSettings, raw)
}

func settingsFromProto(ps *pb.ClusterSettings, secret []byte) cluster.Settings {
	s := cluster.Settings{
		ReplicationFactor: int(ps.ReplicationFactor),
		Partitions:        int(ps.Partitions),
		Conflict:          policyFromProto(ps.Conflict).String(),
		Secret:            secret,
		MaxKeyBytes:       int(ps.MaxKeyBytes),
		MaxValueBytes:     int(min(ps.MaxValueBytes, math.MaxInt32)),
		MaxObjectBytes:    int(min(ps.MaxObjectBytes, math.MaxInt32)),
	}
	copy(s.ClusterID[:], ps.ClusterId)
	return s
}

// coordinatorCluster returns the policy and token keyring of settings.
func coordinatorCluster(s cluster.Settings) (conflict.Policy, *conflict.Keyring, error) {
	p, ok := conflict.ParsePolicy(s.Conflict)
	if !ok {
		return 0, nil, fmt.Errorf("cluster settings name an unknown conflict policy %q", s.Conflict)
	}
	kr, err := conflict.NewKeyring(s.ClusterID, s.Secret)
	return p, kr, err
}

func policyToProto(p string) pb.ConflictPolicy {
	if p == conflict.Siblings.String() {
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
