package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/cluster"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/internal/testkit"
	"github.com/quorumkv/quorumkv/keyspace"
)

func TestCheckSettings_onlyGivenFlags(t *testing.T) {
	s := cluster.Settings{ReplicationFactor: 2, Partitions: keyspace.Q, Conflict: "siblings", MaxKeyBytes: 512, MaxValueBytes: 4096, MaxObjectBytes: 8192}
	base := DefaultConfig() // rf 3, lww, 1024/1 MiB/8 MiB
	for name, tc := range map[string]struct {
		given map[string]bool
		flag  string // "" means accepted
	}{
		"none given: all adopted":   {map[string]bool{"node-id": true}, ""},
		"every flag compared (nil)": {nil, "replication-factor"},
		"conflict given":            {map[string]bool{"conflict": true}, "conflict"},
		"replication factor given":  {map[string]bool{"replication-factor": true}, "replication-factor"},
		"value limit given":         {map[string]bool{"max-value-bytes": true}, "max-value-bytes"},
		"object limit given":        {map[string]bool{"max-object-bytes": true}, "max-object-bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			c := base
			c.Given = tc.given
			err := checkSettings(c, s)
			var fe *FlagError
			switch {
			case tc.flag == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.flag != "" && (!errors.As(err, &fe) || fe.Flag != tc.flag || !strings.Contains(err.Error(), "leave the flag out")):
				t.Fatalf("checkSettings = %v, want a --%s error", err, tc.flag)
			}
		})
	}
	c := base
	c.Given = map[string]bool{"conflict": true}
	c.Conflict = conflict.Siblings
	if err := checkSettings(c, s); err != nil {
		t.Fatalf("a given flag equal to the cluster's: %v", err)
	}
	run := withSettings(base, s)
	if run.ReplicationFactor != 2 || run.Conflict != conflict.Siblings || limitsOf(run) != (keyspace.Limits{MaxKeyBytes: 512, MaxValueBytes: 4096, MaxObjectBytes: 8192}) {
		t.Fatalf("withSettings = %+v", run)
	}
	if !needsRebuild(base, s) || needsRebuild(run, s) {
		t.Fatal("needsRebuild: want true for the defaults, false once they are the cluster's")
	}
}

// runNode runs Run in the background and returns the channel of its
// result; the test stops it at its end.
func runNode(t *testing.T, cfg Config) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Run returned %v after a requested stop", cfg.NodeID, err)
			}
		case <-time.After(time.Minute):
			t.Errorf("%s: Run did not return", cfg.NodeID)
		}
	})
	return done
}

// A joiner started without --conflict and the limits flags takes the
// cluster's siblings policy and limits (persisted; the node is rebuilt
// with them) instead of being refused; one that gives --conflict lww
// explicitly is refused naming it.
func TestRun_joinerAdoptsSettingsLeftAtDefaults(t *testing.T) {
	dir := t.TempDir()
	seedCfg := testConfig(t, dir, "n1")
	seedCfg.Conflict, seedCfg.MaxValueBytes = conflict.Siblings, 4096
	n1 := start(t, seedCfg)
	seed := n1.n.cfg.GossipAddr

	n2cfg := testConfig(t, dir, "n2", seed)
	n2cfg.GRPCAddr = testkit.FreeAddr(t)
	n2cfg.Given = map[string]bool{"node-id": true, "join": true} // --conflict, --max-*-bytes left at their defaults
	runNode(t, n2cfg)
	await(t, 30*time.Second, "n2 alive and normal on n1", func() error {
		for _, m := range n1.n.memberList() {
			if m.ID == "n2" && m.Liveness == cluster.LivenessAlive && m.State.String() == "normal" {
				return nil
			}
		}
		return errors.New("not yet")
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New([]string{n2cfg.GRPCAddr}, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Put(ctx, []byte("big"), make([]byte, 5000), client.WithConsistency(client.One)); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("5000-byte value on n2: %v, want InvalidArgument (the cluster's 4096-byte limit)", err)
	}
	for _, v := range []string{"a", "b"} {
		if _, err := c.Put(ctx, []byte("k"), []byte(v), client.WithConsistency(client.All)); err != nil {
			t.Fatalf("blind put %s at ALL: %v", v, err)
		}
	}
	got, err := c.Get(ctx, []byte("k"), client.WithConsistency(client.One))
	if err != nil || len(got.Values) != 2 {
		t.Fatalf("get on n2 after two blind puts: %+v, %v; want two siblings (the cluster's policy)", got, err)
	}

	n3cfg := testConfig(t, dir, "n3", seed)
	n3cfg.Given = map[string]bool{"node-id": true, "join": true, "conflict": true} // --conflict lww given
	ctx3, cancel3 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel3()
	err = Run(ctx3, n3cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var fe *FlagError
	if !errors.As(err, &fe) || fe.Flag != "conflict" || !strings.Contains(err.Error(), "created with siblings") {
		t.Fatalf("joiner with --conflict lww given: Run = %v, want a --conflict error", err)
	}
}
