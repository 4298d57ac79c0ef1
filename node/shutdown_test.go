package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/internal/testkit"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// renewLine starts the log line of a renewal after an unclean shutdown.
const renewLine = "the last shutdown was not clean: renewing the actor"

// A start not preceded by a clean shutdown renews the actor before the
// node serves (Riak's vnode epochs): a dot it issued may be lost here and
// held by other replicas. A clean stop keeps the actor; a fresh data dir
// counts as clean (its actor is new).
func TestNode_restart_actorRenewedUnlessCleanShutdown(t *testing.T) {
	tests := map[string]struct {
		// stop ends the first run of the node on its data dir.
		stop      func(t *testing.T, tn *testNode)
		wantRenew bool
	}{
		"clean stop": {func(t *testing.T, tn *testNode) { tn.stop(t) }, false},
		"crash":      {crash, true},
		"stopped by a failed local durable write": {func(t *testing.T, tn *testNode) {
			tn.n.onFatal(fmt.Errorf("fsync commit log: input/output error: %w", storage.ErrFatal))
			err := <-tn.done
			tn.done = nil
			if !errors.Is(err, storage.ErrFatal) {
				t.Fatalf("serve returned %v, want an error matching storage.ErrFatal", err)
			}
		}, true},
		// A start that fails before it reads the record (the data dir
		// belongs to another node id) leaves it as it found it.
		"crash, then a start refused": {func(t *testing.T, tn *testNode) {
			crash(t, tn)
			other := tn.n.cfg
			other.NodeID = "someone-else"
			if _, err := newNode(other, slog.New(slog.DiscardHandler)); err == nil {
				t.Fatal("a start under another node id was not refused")
			}
		}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir(), "n1")
			first := &syncBuffer{}
			tn := startLogging(t, cfg, first)
			if strings.Contains(first.String(), renewLine) {
				t.Fatalf("a fresh data dir renewed its actor:\n%s", first)
			}
			key, value := []byte("k"), []byte("v")
			put(t, tn, key, value)
			actor := tn.n.dots.Actor()
			tc.stop(t, tn)

			cfg.GossipAddr = testkit.FreeAddr(t)
			second := &syncBuffer{}
			tn = startLogging(t, cfg, second)
			if renewed := tn.n.dots.Actor() != actor; renewed != tc.wantRenew {
				t.Fatalf("actor %v after actor %v: renewed %v, want %v", tn.n.dots.Actor(), actor, renewed, tc.wantRenew)
			}
			if logged := strings.Contains(second.String(), renewLine); logged != tc.wantRenew {
				t.Fatalf("renewal logged %v, want %v:\n%s", logged, tc.wantRenew, second)
			}
			res, err := tn.n.coord.Get(testContext(t), key, replication.One)
			if err != nil || len(res.Values) != 1 || !bytes.Equal(res.Values[0], value) {
				t.Fatalf("get after the restart: %q, %v; want %q", res.Values, err, value)
			}
			// The renewed actor is the one kept by the next clean stop.
			actor = tn.n.dots.Actor()
			tn.stop(t)
			cfg.GossipAddr = testkit.FreeAddr(t)
			tn = start(t, cfg)
			if got := tn.n.dots.Actor(); got != actor {
				t.Fatalf("actor %v after a clean stop, want %v kept", got, actor)
			}
		})
	}
}

// crash stops the node and leaves its data dir as a node killed while it
// ran leaves it: without the clean shutdown record, cleared at its start.
func crash(t *testing.T, tn *testNode) {
	t.Helper()
	tn.stop(t)
	scfg := storage.DefaultConfig()
	scfg.Dir = tn.n.cfg.DataDir
	eng, err := storage.Open(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.PutMeta(metaShutdown, shutdownRunning); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
}

// put writes key through the node's coordinator at ONE, once the node
// takes writes; the write issues a dot.
func put(t *testing.T, tn *testNode, key, value []byte) {
	t.Helper()
	await(t, 10*time.Second, "a put through "+tn.n.cfg.NodeID, func() error {
		_, err := tn.n.coord.Put(testContext(t), key, value, nil, replication.One)
		return err
	})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a log destination a test reads while the node writes.
type syncBuffer = testkit.LogBuffer
