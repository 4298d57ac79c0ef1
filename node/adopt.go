package node

import (
	"fmt"

	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
)

// A node runs with its cluster's settings (replication factor, conflict
// policy, key, value and object limits). It compares with them only the
// flags given explicitly (Config.Given): one that differs is refused,
// naming the flag; the others take the cluster's values. A node that
// starts with persisted settings takes them before it builds anything.
// A joiner learns them only once a seed answers, after its components
// were built from its flags: when the settings change the conflict
// policy or a limit, it persists them and the node is rebuilt in process
// (Run), which then starts with them.

// errRebuild is the membership's error when a joiner adopted settings
// that its components were not built with: Run builds the node again.
var errRebuild = fmt.Errorf("%w: the conflict policy or a limit differs from this node's flags' defaults", cluster.ErrRestart)

// given reports whether flag was set explicitly; with Config.Given nil,
// every flag counts as given.
func (c Config) given(flag string) bool { return c.Given == nil || c.Given[flag] }

// withSettings returns cfg running under the cluster's settings s: its
// replication factor, conflict policy and limits (those persisted before
// limits were settings, zero, leave cfg's).
func withSettings(cfg Config, s cluster.Settings) Config {
	cfg.ReplicationFactor = s.ReplicationFactor
	if p, ok := conflict.ParsePolicy(s.Conflict); ok {
		cfg.Conflict = p
	}
	if s.MaxKeyBytes != 0 {
		cfg.MaxKeyBytes, cfg.MaxValueBytes, cfg.MaxObjectBytes = s.MaxKeyBytes, s.MaxValueBytes, s.MaxObjectBytes
	}
	return cfg
}

// limitsOf returns the key, value and object limits of cfg.
func limitsOf(cfg Config) keyspace.Limits {
	return keyspace.Limits{MaxKeyBytes: cfg.MaxKeyBytes, MaxValueBytes: cfg.MaxValueBytes, MaxObjectBytes: cfg.MaxObjectBytes}
}

// needsRebuild reports whether a node built from cfg must be rebuilt to
// run under s: the conflict policy (storage merges with it) or a limit
// (requests are checked and the client listener's receive limit sized by
// them) differs.
func needsRebuild(cfg Config, s cluster.Settings) bool {
	eff := withSettings(cfg, s)
	return eff.Conflict != cfg.Conflict || limitsOf(eff) != limitsOf(cfg)
}

// checkSettings refuses a node whose explicitly given flags differ from
// its cluster's settings, naming the flag.
func checkSettings(cfg Config, s cluster.Settings) error {
	if cfg.given("replication-factor") && s.ReplicationFactor != cfg.ReplicationFactor {
		return flagErr("replication-factor", "is %d but the cluster was created with %d (leave the flag out to take the cluster's)", cfg.ReplicationFactor, s.ReplicationFactor)
	}
	if cfg.given("conflict") && s.Conflict != cfg.Conflict.String() {
		return flagErr("conflict", "is %s but the cluster was created with %s (leave the flag out to take the cluster's)", cfg.Conflict, s.Conflict)
	}
	for _, l := range []struct {
		flag         string
		flagV, clusV int
	}{
		{"max-key-bytes", cfg.MaxKeyBytes, s.MaxKeyBytes},
		{"max-value-bytes", cfg.MaxValueBytes, s.MaxValueBytes},
		{"max-object-bytes", cfg.MaxObjectBytes, s.MaxObjectBytes},
	} {
		// Zero: a seed from before the limits were settings.
		if cfg.given(l.flag) && l.clusV != 0 && l.flagV != l.clusV {
			return flagErr(l.flag, "is %d but the cluster was created with %d: every replica must accept what any accepts (leave the flag out to take the cluster's)", l.flagV, l.clusV)
		}
	}
	if s.Partitions != keyspace.Q {
		return fmt.Errorf("cluster has %d partitions; this build supports %d only", s.Partitions, keyspace.Q)
	}
	return nil
}
