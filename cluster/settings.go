package cluster

import (
	"bytes"
	"fmt"
	"math"
	"slices"

	"github.com/quorumkv/quorumkv/cluster/ring"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// Conflict policies, the values of Settings.Conflict.
const (
	// ConflictLWW keeps, of concurrent siblings, the one with the larger
	// (hlc, actor).
	ConflictLWW = "lww"
	// ConflictSiblings keeps concurrent siblings and returns them.
	ConflictSiblings = "siblings"
)

// Settings are a cluster's settings, created by the node that bootstraps
// the cluster and adopted unchanged by every node that joins it.
type Settings struct {
	// ClusterID is 16 random bytes created with the cluster; gossip with
	// another id is ignored. Never all zero.
	ClusterID [16]byte
	// ReplicationFactor is N, how many replicas hold each key. At least 1.
	ReplicationFactor int
	// Partitions is Q, the fixed partition count: a power of two up to
	// ring.MaxQ.
	Partitions int
	// Conflict is the register conflict policy: ConflictLWW or
	// ConflictSiblings.
	Conflict string
	// Secret authenticates context tokens; it is handed to joining nodes
	// and is confidential. Not empty.
	Secret []byte
	// MaxKeyBytes, MaxValueBytes and MaxObjectBytes are the key, value and
	// object limits every replica applies alike, so each accepts what any
	// accepts. Zero in settings persisted before limits were settings.
	MaxKeyBytes, MaxValueBytes, MaxObjectBytes int
}

// Validate reports the first unusable field, wrapped in ErrInvalidConfig.
func (s Settings) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: settings: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case s.ClusterID == [16]byte{}:
		return bad("cluster id is zero")
	case s.ReplicationFactor < 1:
		return bad("replication factor %d, must be at least 1", s.ReplicationFactor)
	case s.Partitions < 1 || s.Partitions > ring.MaxQ || s.Partitions&(s.Partitions-1) != 0:
		return bad("partitions %d, must be a power of two in [1, %d]", s.Partitions, ring.MaxQ)
	case s.Conflict != ConflictLWW && s.Conflict != ConflictSiblings:
		return bad("conflict policy %q, must be %q or %q", s.Conflict, ConflictLWW, ConflictSiblings)
	case len(s.Secret) == 0:
		return bad("secret is empty")
	case s.MaxKeyBytes < 0 || s.MaxValueBytes < 0 || s.MaxObjectBytes < 0:
		return bad("negative limits %d/%d/%d", s.MaxKeyBytes, s.MaxValueBytes, s.MaxObjectBytes)
	}
	return nil
}

// clone returns a copy of s that shares no memory with it.
func (s Settings) clone() Settings {
	s.Secret = slices.Clone(s.Secret)
	return s
}

func (s Settings) equal(o Settings) bool {
	return s.ClusterID == o.ClusterID && s.ReplicationFactor == o.ReplicationFactor &&
		s.Partitions == o.Partitions && s.Conflict == o.Conflict && bytes.Equal(s.Secret, o.Secret) &&
		s.MaxKeyBytes == o.MaxKeyBytes && s.MaxValueBytes == o.MaxValueBytes && s.MaxObjectBytes == o.MaxObjectBytes
}

// settingsToProto encodes s without its secret, which travels beside it.
func settingsToProto(s Settings) *quorumkvv1.ClusterSettings {
	p := &quorumkvv1.ClusterSettings{
		ClusterId:         s.ClusterID[:],
		ReplicationFactor: uint32(s.ReplicationFactor),
		Partitions:        uint32(s.Partitions),
		MaxKeyBytes:       uint32(s.MaxKeyBytes),
		MaxValueBytes:     uint64(s.MaxValueBytes),
		MaxObjectBytes:    uint64(s.MaxObjectBytes),
	}
	switch s.Conflict {
	case ConflictLWW:
		p.Conflict = quorumkvv1.ConflictPolicy_CONFLICT_POLICY_LWW
	case ConflictSiblings:
		p.Conflict = quorumkvv1.ConflictPolicy_CONFLICT_POLICY_SIBLINGS
	}
	return p
}

// settingsFromProto decodes and validates settings received from a seed.
func settingsFromProto(p *quorumkvv1.ClusterSettings, secret []byte) (Settings, error) {
	var s Settings
	if len(p.GetClusterId()) != len(s.ClusterID) {
		return s, fmt.Errorf("%w: settings: cluster id has %d bytes, want %d", ErrInvalidConfig, len(p.GetClusterId()), len(s.ClusterID))
	}
	copy(s.ClusterID[:], p.GetClusterId())
	s.ReplicationFactor = int(p.GetReplicationFactor())
	s.Partitions = int(p.GetPartitions())
	switch p.GetConflict() {
	case quorumkvv1.ConflictPolicy_CONFLICT_POLICY_LWW:
		s.Conflict = ConflictLWW
	case quorumkvv1.ConflictPolicy_CONFLICT_POLICY_SIBLINGS:
		s.Conflict = ConflictSiblings
	default:
		s.Conflict = p.GetConflict().String()
	}
	s.MaxKeyBytes = int(min(p.GetMaxKeyBytes(), math.MaxInt32))
	s.MaxValueBytes = int(min(p.GetMaxValueBytes(), math.MaxInt32))
	s.MaxObjectBytes = int(min(p.GetMaxObjectBytes(), math.MaxInt32))
	s.Secret = slices.Clone(secret)
	return s, s.Validate()
}
