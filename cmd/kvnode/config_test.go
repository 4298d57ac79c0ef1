package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a config file in a test directory and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kvnode.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fullConfig = `
# a node of the dev cluster
node-id = "n1"
data-dir = "/var/lib/quorumkv"
cluster-name = "dev"
vnodes = 32
join = ["10.0.0.1:7101", "10.0.0.2:7101"]
anti-entropy-interval = "30s"
conflict = "siblings"
pprof = true
`

func TestParseFlags_configFile(t *testing.T) {
	path := writeConfig(t, fullConfig)
	var stdout bytes.Buffer
	cfg, err := parseFlags([]string{"--config", path}, func(string) string { return "" }, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "n1" || cfg.DataDir != "/var/lib/quorumkv" || cfg.ClusterName != "dev" || cfg.VNodes != 32 ||
		cfg.AntiEntropyInterval != 30*time.Second || cfg.Conflict.String() != "siblings" || !cfg.Pprof ||
		!slices.Equal(cfg.Join, []string{"10.0.0.1:7101", "10.0.0.2:7101"}) {
		t.Errorf("config not applied: %+v", cfg)
	}
	if cfg.ReplicationFactor != 3 {
		t.Errorf("a flag the file does not name lost its default: replication-factor %d", cfg.ReplicationFactor)
	}
}

func TestParseFlags_configOverriddenByFlagsAndEnvironment(t *testing.T) {
	path := writeConfig(t, fullConfig)
	env := map[string]string{"KVNODE_CONFIG": path, "KVNODE_VNODES": "16", "KVNODE_JOIN": "10.0.0.9:7101"}
	var stdout bytes.Buffer
	cfg, err := parseFlags([]string{"--node-id", "n9"}, func(k string) string { return env[k] }, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "n9" {
		t.Errorf("node-id = %q, want n9 from the flag", cfg.NodeID)
	}
	if cfg.VNodes != 16 || !slices.Equal(cfg.Join, []string{"10.0.0.9:7101"}) {
		t.Errorf("vnodes, join = %d, %v; want 16 and 10.0.0.9:7101 from the environment", cfg.VNodes, cfg.Join)
	}
	if cfg.DataDir != "/var/lib/quorumkv" {
		t.Errorf("data-dir = %q, want the file's (from $KVNODE_CONFIG)", cfg.DataDir)
	}
}

func TestRun_badConfigExits2NamingTheKey(t *testing.T) {
	tests := map[string]struct {
		text string
		want []string
	}{
		"unknown key":     {"node-id = \"n1\"\nnode_id = \"n2\"\n", []string{`unknown key "node_id"`}},
		"version":         {"version = true\n", []string{`unknown key "version"`}},
		"test knob":       {"test-no-hints = true\n", []string{`key "test-no-hints"`, "flags only"}},
		"config itself":   {"config = \"other.toml\"\n", []string{`key "config"`}},
		"table":           {"[node]\nid = \"n1\"\n", []string{`unknown key "node"`}},
		"bad value":       {"vnodes = \"many\"\n", []string{"--vnodes", `key "vnodes" = "many"`}},
		"bad list":        {"join = [1, 2]\n", []string{`key "join"`, "strings"}},
		"bad duration":    {"anti-entropy-interval = 30\n", []string{"--anti-entropy-interval", `key "anti-entropy-interval"`}},
		"not TOML":        {"node-id = \n", []string{"line 1"}},
		"bad conflict":    {"conflict = \"newest\"\n", []string{"--conflict", `"newest"`}},
		"a table of flag": {"[pprof]\non = true\n", []string{`key "pprof"`, "flat"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, tt.text)
			var stdout, stderr bytes.Buffer
			code := run([]string{"--node-id", "n1", "--data-dir", t.TempDir(), "--config", path}, func(string) string { return "" }, &stdout, &stderr)
			line := stderr.String()
			if code != exitUsage || !strings.HasPrefix(line, "error: ") || strings.Count(line, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want 2 and one error line", code, line)
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(line, w) {
					t.Errorf("stderr %q does not contain %q", line, w)
				}
			}
		})
	}
}

func TestRun_missingConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.toml")
	var stdout, stderr bytes.Buffer
	code := run([]string{"--config", path}, func(string) string { return "" }, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "--config "+path) {
		t.Errorf("exit %d, stderr %q; want 2 naming --config and the file", code, stderr.String())
	}
}

// The flags set on the command line, by a KVNODE_* variable or in the
// config file are the ones a joiner compares with its cluster's settings;
// the others, left at their defaults, take the cluster's values.
func TestParseFlags_givenFlags(t *testing.T) {
	path := writeConfig(t, "conflict = \"siblings\"\nmax-key-bytes = 512\n")
	env := map[string]string{"KVNODE_REPLICATION_FACTOR": "2"}
	var stdout bytes.Buffer
	cfg, err := parseFlags([]string{"--node-id", "n1", "--config", path, "--max-value-bytes", "4096"}, func(k string) string { return env[k] }, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]bool{
		"node-id": true, "config": true, "max-value-bytes": true, // command line
		"replication-factor": true,                        // environment
		"conflict":           true, "max-key-bytes": true, // config file
		"max-object-bytes": false, "max-siblings": false, "vnodes": false,
	} {
		if cfg.Given[flag] != want {
			t.Errorf("Given[%q] = %v, want %v", flag, cfg.Given[flag], want)
		}
	}
	cfg, err = parseFlags(nil, func(string) string { return "" }, &stdout)
	if err != nil || cfg.Given == nil || len(cfg.Given) != 0 {
		t.Fatalf("no flag: Given = %v, %v; want empty, not nil (nil compares every flag)", cfg.Given, err)
	}
}
