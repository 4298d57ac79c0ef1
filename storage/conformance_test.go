package storage_test

import (
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/storage"
	"github.com/quorumkv/quorumkv/storage/storagetest"
)

func openEngine(cfg storage.Config) storagetest.OpenFunc {
	return func(t *testing.T, dir string) storagetest.Engine {
		cfg.Dir = dir
		return storagetest.Open(t, cfg)
	}
}

func TestEngine_conformance(t *testing.T) {
	tests := map[string]func() storage.Config{
		"group commit lww": storage.DefaultConfig,
		"commit per write siblings": func() storage.Config {
			cfg := storage.DefaultConfig()
			cfg.GroupCommit = false
			cfg.Policy = conflict.Siblings
			return cfg
		},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storagetest.RunConformance(t, openEngine(cfg()))
		})
	}
}
