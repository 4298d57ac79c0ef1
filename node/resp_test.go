package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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
	rc := redis.NewClient(&redis.Options{Addr: tn.n.respAddr(), Protocol: proto, DisableIdentity: true,
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
			if _, err := rc.Get(ctx, k("missing")).Result(); err != redis.Nil {
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
			if _, err := rc.Get(ctx, k("a")).Result(); err != redis.Nil {
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
		})
	}
}
