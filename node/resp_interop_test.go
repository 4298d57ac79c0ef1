package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/conflict"
)

var levels = []struct {
	name string
	c    client.Consistency
}{{"one", client.One}, {"quorum", client.Quorum}, {"all", client.All}}

// What RESP writes, gRPC reads, and the reverse, registers and sets, at
// every level.
func TestRESP_interopWithGRPC(t *testing.T) {
	nodes := startRESPCluster(t, conflict.LWW)
	gc := grpcClient(t, nodes[1])
	for _, l := range levels {
		t.Run(l.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			conn := redisClient(t, nodes[0], 3).Conn()
			defer conn.Close()
			if err := conn.Do(ctx, "QKV.CONSISTENCY", l.name).Err(); err != nil {
				t.Fatal(err)
			}
			at := client.WithConsistency(l.c)
			// An ALL write is on every replica; a ONE read after a ONE
			// write may not see it, so reads are at ALL there.
			readAt := at
			if l.c == client.One {
				readAt = client.WithConsistency(client.All)
				if err := conn.Do(ctx, "QKV.CONSISTENCY", "READ", "all", "WRITE", "one").Err(); err != nil {
					t.Fatal(err)
				}
			}
			k := func(s string) string { return l.name + ":" + s }
			// RESP -> gRPC.
			if err := conn.Set(ctx, k("r2g"), "from-resp", 0).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
			await(t, 10*time.Second, "the RESP write read through gRPC", func() error {
				got, err := gc.Get(ctx, []byte(k("r2g")), readAt)
				if err != nil || !got.Found || string(got.Values[0]) != "from-resp" {
					return fmt.Errorf("%+v, %w", got, err)
				}
				return nil
			})
			if err := conn.SAdd(ctx, k("rset"), "a", "b").Err(); err != nil {
				t.Fatalf("SADD: %v", err)
			}
			await(t, 10*time.Second, "the RESP set read through gRPC", func() error {
				got, err := gc.SMembers(ctx, []byte(k("rset")), readAt)
				if err != nil || fmt.Sprintf("%s", got.Members) != "[a b]" {
					return fmt.Errorf("%+v, %w", got, err)
				}
				return nil
			})
			// gRPC -> RESP.
			if _, err := gc.Put(ctx, []byte(k("g2r")), []byte("from-grpc"), at); err != nil {
				t.Fatalf("gRPC put: %v", err)
			}
			if _, err := gc.SAdd(ctx, []byte(k("gset")), [][]byte{[]byte("x"), []byte("y")}, at); err != nil {
				t.Fatalf("gRPC sadd: %v", err)
			}
			await(t, 10*time.Second, "the gRPC writes read through RESP", func() error {
				if v, err := conn.Get(ctx, k("g2r")).Result(); err != nil || v != "from-grpc" {
					return fmt.Errorf("GET: %q, %w", v, err)
				}
				if ms, err := conn.SMembers(ctx, k("gset")).Result(); err != nil || fmt.Sprint(ms) != "[x y]" {
					return fmt.Errorf("SMEMBERS: %v, %w", ms, err)
				}
				return nil
			})
			// Deletes and removes both ways.
			if err := conn.Del(ctx, k("g2r")).Err(); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			if err := conn.SRem(ctx, k("gset"), "x").Err(); err != nil {
				t.Fatalf("SREM: %v", err)
			}
			if _, err := gc.Delete(ctx, []byte(k("r2g")), at); err != nil {
				t.Fatalf("gRPC delete: %v", err)
			}
			await(t, 10*time.Second, "the deletes seen both ways", func() error {
				if got, err := gc.Get(ctx, []byte(k("g2r")), readAt); err != nil || got.Found {
					return fmt.Errorf("gRPC get after DEL: %+v, %w", got, err)
				}
				if got, err := gc.SMembers(ctx, []byte(k("gset")), readAt); err != nil || fmt.Sprintf("%s", got.Members) != "[y]" {
					return fmt.Errorf("gRPC smembers after SREM: %+v, %w", got, err)
				}
				if err := conn.Get(ctx, k("r2g")).Err(); !errors.Is(err, redis.Nil) {
					return fmt.Errorf("GET after the gRPC delete: %w", err)
				}
				return nil
			})
		})
	}
}

// Under --conflict siblings: concurrent writes make GET answer -SIBLINGS;
// QKV.GET returns them with the context token (the same token kvctl
// prints), QKV.PUT resolves them, and a SET replaces what it read.
func TestRESP_siblings(t *testing.T) {
	nodes := startRESPCluster(t, conflict.Siblings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gc := grpcClient(t, nodes[1])
	rc := redisClient(t, nodes[0], 2)
	all := client.WithConsistency(client.All)
	siblings := func(key string) {
		t.Helper()
		for _, v := range []string{"v1", "v2"} { // blind writes: concurrent
			if _, err := gc.Put(ctx, []byte(key), []byte(v), all); err != nil {
				t.Fatal(err)
			}
		}
	}
	siblings("k")
	err := rc.Get(ctx, "k").Err()
	if err == nil || err.Error() != "SIBLINGS 2 values; use QKV.GET" {
		t.Fatalf("GET of a key with two siblings: %v", err)
	}
	res, err := rc.Do(ctx, "QKV.GET", "k").Slice()
	if err != nil || len(res) != 2 || fmt.Sprint(res[0]) != "[v1 v2]" {
		t.Fatalf("QKV.GET: %v, %v", res, err)
	}
	token := res[1].(string)
	got, err := gc.Get(ctx, []byte("k"), all)
	if err != nil || base64.RawURLEncoding.EncodeToString(got.Context) == "" {
		t.Fatal(err)
	}
	if err := rc.Do(ctx, "QKV.PUT", "k", "merged", token).Err(); err != nil {
		t.Fatalf("QKV.PUT with the token: %v", err)
	}
	if v, err := rc.Get(ctx, "k").Result(); err != nil || v != "merged" {
		t.Fatalf("GET after QKV.PUT: %q, %v", v, err)
	}
	if got, err := gc.Get(ctx, []byte("k"), all); err != nil || fmt.Sprintf("%s", got.Values) != "[merged]" {
		t.Fatalf("gRPC get after QKV.PUT: %+v, %v", got, err)
	}
	// A token of QKV.GET resolves through gRPC too.
	siblings("k2")
	res, err = rc.Do(ctx, "QKV.GET", "k2").Slice()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := base64.RawURLEncoding.DecodeString(res[1].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Put(ctx, []byte("k2"), []byte("by-grpc"), all, client.WithContext(tok)); err != nil {
		t.Fatal(err)
	}
	if v, err := rc.Get(ctx, "k2").Result(); err != nil || v != "by-grpc" {
		t.Fatalf("GET after a gRPC put with the QKV.GET token: %q, %v", v, err)
	}
	// SET reads first under siblings: it replaces both.
	siblings("k3")
	if err := rc.Set(ctx, "k3", "set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rc.Get(ctx, "k3").Result(); err != nil || v != "set" {
		t.Fatalf("GET after SET over siblings: %q, %v", v, err)
	}
	// DEL reads first: it removes both.
	siblings("k4")
	if n, err := rc.Del(ctx, "k4").Result(); err != nil || n != 1 {
		t.Fatalf("DEL of siblings: %d, %v", n, err)
	}
	if got, err := gc.Get(ctx, []byte("k4"), all); err != nil || got.Found {
		t.Fatalf("gRPC get after DEL of siblings: %+v, %v", got, err)
	}
	if err := rc.Do(ctx, "QKV.PUT", "k", "x", "not a token!").Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR context token") {
		t.Fatalf("QKV.PUT with a bad token: %v", err)
	}
}

// With one replica per key, a node forwards the RESP commands on keys it
// does not replicate, as it does gRPC requests, and the replica's errors
// come back in Redis form.
func TestRESP_forwardsToAReplica(t *testing.T) {
	dir := t.TempDir()
	var nodes []*testNode
	seed := ""
	for _, id := range []string{"n1", "n2"} {
		cfg := testConfig(t, dir, id)
		if seed != "" {
			cfg = testConfig(t, dir, id, seed)
		}
		seed = cfg.GossipAddr
		cfg.ReplicationFactor = 1
		cfg.RESPAddr = "127.0.0.1:0"
		nodes = append(nodes, start(t, cfg))
	}
	await(t, 30*time.Second, "two alive normal members on both nodes", func() error { return allNormal(nodes, 2) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r1, r2 := redisClient(t, nodes[0], 2), redisClient(t, nodes[1], 3)
	for i := range 40 {
		k := fmt.Sprintf("k%d", i)
		if err := r1.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s through n1: %v", k, err)
		}
		if v, err := r2.Get(ctx, k).Result(); err != nil || v != k {
			t.Fatalf("GET %s through n2: %q, %v", k, v, err)
		}
		if err := r2.SAdd(ctx, "s"+k, "m").Err(); err != nil {
			t.Fatalf("SADD through n2: %v", err)
		}
		if err := r1.Get(ctx, "s"+k).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE ") {
			t.Fatalf("GET of a set through n1: %v, want WRONGTYPE", err)
		}
		if n, err := r1.Del(ctx, k, "s"+k).Result(); err != nil || n != 2 {
			t.Fatalf("DEL through n1: %d, %v", n, err)
		}
	}
	var local float64
	for _, tn := range nodes {
		st := tn.n.store.Stats()
		if st.Keys != 0 {
			t.Errorf("%s still holds %d live keys after DEL", tn.n.cfg.NodeID, st.Keys)
		}
		local += float64(st.Tombstones)
	}
	if local != 80 {
		t.Errorf("%v tombstones over both nodes, want 80 (one per key, each on its one replica)", local)
	}
}
