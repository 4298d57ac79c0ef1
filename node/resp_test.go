package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/conflict"
)

// startRESPCluster starts three converged nodes with RESP listeners under the
// conflict policy p.
func startRESPCluster(t *testing.T, p conflict.Policy) []*testNode {
	t.Helper()
	dir := t.TempDir()
	var nodes []*testNode
	seed := ""
	for _, id := range []string{"n1", "n2", "n3"} {
		var cfg Config
		if seed == "" {
			cfg = testConfig(t, dir, id)
			seed = cfg.GossipAddr
		} else {
			cfg = testConfig(t, dir, id, seed)
		}
		cfg.RESPAddr = "127.0.0.1:0"
		cfg.Conflict = p
		nodes = append(nodes, start(t, cfg))
	}
	await(t, 30*time.Second, "three alive normal members on every node", func() error { return allNormal(nodes, 3) })
	return nodes
}

// redisClient returns a go-redis client of tn's RESP listener speaking
// protocol proto (2 or 3), closed at the test's end.
func redisClient(t *testing.T, tn *testNode, proto int) *redis.Client {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: tn.n.respAddr(), Protocol: proto, // CLIENT SETINFO on connect too
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

func grpcClient(t *testing.T, tn *testNode) *client.Client {
	t.Helper()
	c, err := client.New([]string{tn.n.grpcAddr}, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// The data commands through go-redis, RESP2 and RESP3, against a
// three-node cluster.
func TestRESP_dataCommands(t *testing.T) {
	nodes := startRESPCluster(t, conflict.LWW)
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rc := redisClient(t, nodes[proto-1], proto)
			k := func(s string) string { return fmt.Sprintf("p%d:%s", proto, s) }
			if err := rc.Set(ctx, k("a"), "1", 0).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
			if v, err := rc.Get(ctx, k("a")).Result(); err != nil || v != "1" {
				t.Fatalf("GET: %q, %v", v, err)
			}
			if _, err := rc.Get(ctx, k("missing")).Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GET of a missing key: %v, want redis.Nil", err)
			}
			if err := rc.MSet(ctx, k("b"), "2", k("c"), "3").Err(); err != nil {
				t.Fatalf("MSET: %v", err)
			}
			vals, err := rc.MGet(ctx, k("a"), k("b"), k("missing"), k("c")).Result()
			if err != nil || fmt.Sprint(vals) != "[1 2 <nil> 3]" {
				t.Fatalf("MGET: %v, %v", vals, err)
			}
			if n, err := rc.Exists(ctx, k("a"), k("b"), k("missing")).Result(); err != nil || n != 2 {
				t.Fatalf("EXISTS: %d, %v", n, err)
			}
			if n, err := rc.Del(ctx, k("a"), k("missing"), k("b")).Result(); err != nil || n != 2 {
				t.Fatalf("DEL: %d, %v; want 2", n, err)
			}
			if n, err := rc.Unlink(ctx, k("c")).Result(); err != nil || n != 1 {
				t.Fatalf("UNLINK: %d, %v", n, err)
			}
			if _, err := rc.Get(ctx, k("a")).Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GET after DEL: %v", err)
			}
			// Sets.
			if n, err := rc.SAdd(ctx, k("s"), "x", "y", "z", "x").Result(); err != nil || n != 3 {
				t.Fatalf("SADD: %d, %v", n, err)
			}
			if ms, err := rc.SMembers(ctx, k("s")).Result(); err != nil || fmt.Sprint(ms) != "[x y z]" {
				t.Fatalf("SMEMBERS: %v, %v", ms, err)
			}
			if ok, err := rc.SIsMember(ctx, k("s"), "y").Result(); err != nil || !ok {
				t.Fatalf("SISMEMBER: %v, %v", ok, err)
			}
			if bs, err := rc.SMIsMember(ctx, k("s"), "x", "q").Result(); err != nil || fmt.Sprint(bs) != "[true false]" {
				t.Fatalf("SMISMEMBER: %v, %v", bs, err)
			}
			if n, err := rc.SRem(ctx, k("s"), "y", "q").Result(); err != nil || n != 1 {
				t.Fatalf("SREM: %d, %v; want 1", n, err)
			}
			if n, err := rc.SCard(ctx, k("s")).Result(); err != nil || n != 2 {
				t.Fatalf("SCARD: %d, %v", n, err)
			}
			for key, want := range map[string]string{k("s"): "set", k("t"): "string", k("missing"): "none"} {
				if want == "string" {
					if err := rc.Set(ctx, key, "v", 0).Err(); err != nil {
						t.Fatal(err)
					}
				}
				if got, err := rc.Type(ctx, key).Result(); err != nil || got != want {
					t.Fatalf("TYPE %s: %q, %v; want %s", key, got, err, want)
				}
			}
			// Errors.
			if err := rc.Get(ctx, k("s")).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE ") {
				t.Fatalf("GET of a set: %v, want WRONGTYPE", err)
			}
			if err := rc.SAdd(ctx, k("t"), "m").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE ") {
				t.Fatalf("SADD to a string: %v, want WRONGTYPE", err)
			}
			for _, tc := range []struct {
				args []any
				want string // the error's prefix
			}{
				{[]any{"SET", k("a"), "v", "NX"}, "ERR SET NX needs compare-and-set"},
				{[]any{"SET", k("a"), "v", "XX"}, "ERR SET XX needs compare-and-set"},
				{[]any{"SET", k("a"), "v", "GET"}, "ERR SET GET needs compare-and-set"},
				{[]any{"SET", k("a"), "v", "EX", "10"}, "ERR SET EX: quorumkv has no key expiry"},
				{[]any{"SET", k("a"), "v", "PXAT", "10"}, "ERR SET PXAT: quorumkv has no key expiry"},
				{[]any{"GET"}, "ERR wrong number of arguments for 'get' command"},
				{[]any{"GET", "a", "b"}, "ERR wrong number of arguments for 'get' command"},
				{[]any{"MSET", "a"}, "ERR wrong number of arguments for 'mset' command"},
				{[]any{"xyz", "1"}, "ERR unknown command 'xyz'"},
				{[]any{"HELLO", "3", "AUTH", "u", "p"}, "ERR HELLO AUTH: quorumkv takes no passwords"},
				{[]any{"AUTH", "p"}, "ERR quorumkv takes no passwords"},
				{[]any{"SELECT", "1"}, "ERR DB index is out of range"},
				{[]any{"QKV.CONSISTENCY", "most"}, `ERR "most" is not a level`},
				{[]any{"HELLO", "4"}, "NOPROTO"},
			} {
				err := rc.Do(ctx, tc.args...).Err()
				if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Errorf("%v: %v, want an error starting %q", tc.args, err, tc.want)
				}
			}
			// The connection is still usable after errors.
			if v, err := rc.Ping(ctx).Result(); err != nil || v != "PONG" {
				t.Fatalf("PING: %q, %v", v, err)
			}
			m := nodes[proto-1].n.metrics.resp
			for _, c := range []struct {
				command, outcome string
			}{{"get", "ok"}, {"get", "wrong_type"}, {"get", "invalid"}, {"set", "invalid"}, {"unknown", "invalid"}} {
				if testutil.ToFloat64(m.commands.WithLabelValues(c.command, c.outcome)) == 0 {
					t.Errorf("quorumkv_resp_commands_total{command=%q, outcome=%q} is 0", c.command, c.outcome)
				}
			}
			if n := testutil.ToFloat64(m.conns); n < 1 {
				t.Errorf("quorumkv_resp_connections = %v with a connection open", n)
			}
		})
	}
}

// HELLO, CLIENT, INFO, COMMAND, CONFIG GET and pipelining through go-redis.
func TestRESP_connectionCommands(t *testing.T) {
	nodes := startRESPCluster(t, conflict.LWW)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rc := redisClient(t, nodes[0], 3)
	conn := rc.Conn()
	defer conn.Close()
	hello, err := conn.Do(ctx, "HELLO", "3", "SETNAME", "tester").Result()
	if err != nil {
		t.Fatalf("HELLO 3 SETNAME: %v", err)
	}
	hm, ok := hello.(map[any]any)
	if !ok || hm["proto"] != int64(3) || hm["server"] != "quorumkv" {
		t.Fatalf("HELLO 3: %#v, want a map with proto 3", hello)
	}
	if name, err := conn.ClientGetName(ctx).Result(); err != nil || name != "tester" {
		t.Fatalf("CLIENT GETNAME after HELLO SETNAME: %q, %v", name, err)
	}
	if err := conn.ClientSetName(ctx, "other").Err(); err != nil {
		t.Fatalf("CLIENT SETNAME: %v", err)
	}
	id, err := conn.ClientID(ctx).Result()
	if err != nil || id < 1 {
		t.Fatalf("CLIENT ID: %d, %v", id, err)
	}
	info, err := conn.ClientInfo(ctx).Result()
	if err != nil || info.Name != "other" || info.ID != id || info.Resp != 3 {
		t.Fatalf("CLIENT INFO: %+v, %v", info, err)
	}
	if e, err := conn.Echo(ctx, "hi").Result(); err != nil || e != "hi" {
		t.Fatalf("ECHO: %q, %v", e, err)
	}
	if err := conn.Select(ctx, 0).Err(); err != nil {
		t.Fatalf("SELECT 0: %v", err)
	}
	for _, proto := range []int{2, 3} {
		rc := redisClient(t, nodes[1], proto)
		text, err := rc.Info(ctx).Result()
		for _, want := range []string{"# Server", "redis_version:", "# Clients", "connected_clients:", "# Keyspace", "# Cluster",
			"quorumkv_node_id:n2", "quorumkv_members:3", "quorumkv_ownership:0.3333", "member2:id=n3,"} {
			if err != nil || !strings.Contains(text, want) {
				t.Fatalf("INFO (RESP%d) lacks %q: %v\n%s", proto, want, err, text)
			}
		}
		if text, err := rc.Info(ctx, "cluster").Result(); err != nil || strings.Contains(text, "# Server") || !strings.Contains(text, "# Cluster") {
			t.Fatalf("INFO cluster (RESP%d): %v\n%s", proto, err, text)
		}
		if n, err := rc.Do(ctx, "COMMAND", "COUNT").Int(); err != nil || n < 20 {
			t.Fatalf("COMMAND COUNT: %d, %v", n, err)
		}
		cmds, err := rc.Command(ctx).Result()
		if err != nil || cmds["get"] == nil || cmds["get"].Arity != 2 || !cmds["get"].ReadOnly {
			t.Fatalf("COMMAND (RESP%d): get = %+v, %v", proto, cmds["get"], err)
		}
		docs, err := rc.Do(ctx, "COMMAND", "DOCS", "set").Result()
		if err != nil || !strings.Contains(fmt.Sprint(docs), "summary") {
			t.Fatalf("COMMAND DOCS set: %v, %v", docs, err)
		}
		cfg, err := rc.ConfigGet(ctx, "save").Result()
		if err != nil || len(cfg) != 1 {
			t.Fatalf("CONFIG GET save: %v, %v", cfg, err)
		}
		if cfg, err := rc.ConfigGet(ctx, "appendonly").Result(); err != nil || cfg["appendonly"] != "no" {
			t.Fatalf("CONFIG GET appendonly: %v, %v", cfg, err)
		}
		// Pipelining: many commands in one write, answered in order.
		pipe := rc.Pipeline()
		var gets []*redis.StringCmd
		for i := range 200 {
			pipe.Set(ctx, fmt.Sprintf("pipe%d:%d", proto, i), i, 0)
			gets = append(gets, pipe.Get(ctx, fmt.Sprintf("pipe%d:%d", proto, i)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("pipeline: %v", err)
		}
		for i, g := range gets {
			if g.Val() != fmt.Sprint(i) {
				t.Fatalf("pipelined GET %d: %q", i, g.Val())
			}
		}
	}
}

// QKV.CONSISTENCY sets the connection's levels; a level not met answers
// -QUORUM with kvctl's error line.
func TestRESP_consistencyAndLevelNotMet(t *testing.T) {
	nodes := startRESPCluster(t, conflict.LWW)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rc := redisClient(t, nodes[0], 2)
	conn := rc.Conn()
	defer conn.Close()
	for _, args := range [][]any{{"QKV.CONSISTENCY", "all"}, {"QKV.CONSISTENCY", "READ", "one", "WRITE", "all"}, {"qkv.consistency", "WRITE", "ALL"}} {
		if err := conn.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if err := conn.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET at ALL with three nodes: %v", err)
	}
	nodes[2].stop(t)
	err := conn.Set(ctx, "k", "w", 0).Err()
	// The write fails as soon as n3 is known to miss it, maybe before n2
	// answered: "QUORUM ALL write: 1 of 3 required acknowledgements (n3
	// unreachable, n2 had not answered yet); applied on n1".
	if err == nil || !strings.HasPrefix(err.Error(), "QUORUM ALL write: ") ||
		!strings.Contains(err.Error(), " of 3 required acknowledgements (n3 ") || !strings.Contains(err.Error(), "; applied on n1") {
		t.Fatalf("SET at ALL with n3 stopped: %v, want -QUORUM ALL write: k of 3 required acknowledgements (n3 ...); applied on n1...", err)
	}
	err = conn.MSet(ctx, "k1", "a", "k2", "b").Err()
	if err == nil || !strings.HasPrefix(err.Error(), `QUORUM MSET: 2 of 2 keys did not meet the level: "k1" (ALL write: `) {
		t.Fatalf("MSET at ALL with n3 stopped: %v", err)
	}
	if v, err := conn.Get(ctx, "k").Result(); err != nil || v != "w" {
		t.Fatalf("GET at ONE after the partial write: %q, %v", v, err)
	}
	if err := conn.Do(ctx, "QKV.CONSISTENCY", "quorum").Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Set(ctx, "k", "x", 0).Err(); err != nil {
		t.Fatalf("SET at QUORUM with two nodes of three: %v", err)
	}
	// Another connection starts at the default level (quorum).
	if err := redisClient(t, nodes[1], 3).Set(ctx, "k", "y", 0).Err(); err != nil {
		t.Fatalf("SET at the default level on another connection: %v", err)
	}
}
