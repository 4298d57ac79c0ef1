package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/client/clienttest"
	"github.com/quorumkv/quorumkv/keyspace"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// startNodes starts three fakes, n1, n2 and n3.
func startNodes(t *testing.T) []*clienttest.Server {
	t.Helper()
	return []*clienttest.Server{clienttest.Start(t, "n1"), clienttest.Start(t, "n2"), clienttest.Start(t, "n3")}
}

func addrs(nodes []*clienttest.Server) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Addr()
	}
	return out
}

// rotated replicates partition p on every node, starting with node
// (p+shift) mod len(nodes): each node is the first replica of a third of
// the partitions.
func rotated(nodes []*clienttest.Server, shift int) func(int) []string {
	return func(p int) []string {
		ids := make([]string, len(nodes))
		for i := range nodes {
			ids[i] = nodes[(p+shift+i)%len(nodes)].NodeID
		}
		return ids
	}
}

// fixed replicates every partition on ids, in that order.
func fixed(ids ...string) func(int) []string { return func(int) []string { return ids } }

// serveTable makes every node answer RingTable with the table of replicas.
func serveTable(nodes []*clienttest.Server, replicas func(int) []string) {
	t := clienttest.RingTable(nodes, replicas)
	for _, n := range nodes {
		n.SetRingTable(t)
	}
}

// keyOn returns a key whose partition's replicas (as replicas says) start
// with first.
func keyOn(t *testing.T, replicas func(int) []string, first string) []byte {
	t.Helper()
	for i := range 10000 {
		k := []byte(fmt.Sprintf("key-%d", i))
		if replicas(int(keyspace.PartitionOf(k)))[0] == first {
			return k
		}
	}
	t.Fatalf("no key has %s as first replica", first)
	return nil
}

// keyRequests counts the key operations a node received.
func keyRequests(s *clienttest.Server) int {
	n := 0
	for _, r := range s.Requests() {
		if _, ok := r.(interface{ GetKey() []byte }); ok {
			n++
		}
	}
	return n
}

// tableRequests counts the RingTable requests a node received.
func tableRequests(s *clienttest.Server) int {
	n := 0
	for _, r := range s.Requests() {
		if _, ok := r.(*quorumkvv1.RingTableRequest); ok {
			n++
		}
	}
	return n
}

// counts snapshots the key requests of each node.
func counts(nodes []*clienttest.Server) []int {
	out := make([]int, len(nodes))
	for i, n := range nodes {
		out[i] = keyRequests(n)
	}
	return out
}

// landedOn runs op and returns the index of the one node that received a
// key request during it (-1 if none); more than one fails the test.
func landedOn(t *testing.T, nodes []*clienttest.Server, op func() error) int {
	t.Helper()
	before := counts(nodes)
	if err := op(); err != nil {
		t.Fatalf("request: %v", err)
	}
	got := -1
	for i, n := range counts(nodes) {
		switch d := n - before[i]; {
		case d == 1 && got == -1:
			got = i
		case d != 0:
			t.Fatalf("key requests per node went from %v to %v, want one request on one node", before, counts(nodes))
		}
	}
	return got
}

// waitRouted waits until a Get of key reaches nodes[want], failing the test
// after five seconds.
func waitRouted(ctx context.Context, t *testing.T, c *client.Client, nodes []*clienttest.Server, key []byte, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := landedOn(t, nodes, func() error { _, err := c.Get(ctx, key); return err })
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a Get of %q still reaches %s after 5s, want %s", key, nodes[got].NodeID, nodes[want].NodeID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func index(nodes []*clienttest.Server, id string) int {
	for i, n := range nodes {
		if n.NodeID == id {
			return i
		}
	}
	return -1
}

func TestClient_tokenAware_sendsToFirstReplica(t *testing.T) {
	nodes := startNodes(t)
	table := rotated(nodes, 0)
	serveTable(nodes, table)
	c := newClient(t, addrs(nodes), client.WithTokenAware(time.Minute))
	ctx := context.Background()
	waitRouted(ctx, t, c, nodes, keyOn(t, table, "n2"), 1)

	ops := map[string]func(key []byte) error{
		"Get":      func(k []byte) error { _, err := c.Get(ctx, k); return err },
		"Put":      func(k []byte) error { _, err := c.Put(ctx, k, []byte("v")); return err },
		"Delete":   func(k []byte) error { _, err := c.Delete(ctx, k); return err },
		"SAdd":     func(k []byte) error { _, err := c.SAdd(ctx, k, [][]byte{[]byte("m")}); return err },
		"SRem":     func(k []byte) error { _, err := c.SRem(ctx, k, [][]byte{[]byte("m")}); return err },
		"SMembers": func(k []byte) error { _, err := c.SMembers(ctx, k); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			firsts := map[int]bool{}
			for i := range 30 {
				key := []byte(fmt.Sprintf("%s-%d", name, i)) // per op: no type clash
				want := index(nodes, table(int(keyspace.PartitionOf(key)))[0])
				firsts[want] = true
				if got := landedOn(t, nodes, func() error { return op(key) }); got != want {
					t.Fatalf("%s of %q reached %s, want its first replica %s", name, key, nodes[got].NodeID, nodes[want].NodeID)
				}
			}
			if len(firsts) != 3 {
				t.Errorf("the keys' first replicas were %v, want all three nodes", firsts)
			}
		})
	}
}

func TestClient_tokenAware_replicaDown(t *testing.T) {
	ctx := context.Background()
	t.Run("crashed first replica: the next one", func(t *testing.T) {
		nodes := startNodes(t)
		table := rotated(nodes, 0)
		serveTable(nodes, table)
		c := newClient(t, addrs(nodes), client.WithTokenAware(time.Minute))
		key := keyOn(t, table, "n2") // replicas n2, n3, n1
		waitRouted(ctx, t, c, nodes, key, 1)
		nodes[1].Stop()
		for i := range 3 {
			if got := landedOn(t, nodes, func() error { _, err := c.Put(ctx, key, []byte("v")); return err }); got != 2 {
				t.Fatalf("Put %d reached %s, want the next replica n3", i, nodes[got].NodeID)
			}
		}
	})
	t.Run("unanswering first replica is skipped afterwards", func(t *testing.T) {
		nodes := startNodes(t)
		table := rotated(nodes, 0)
		serveTable(nodes, table)
		c := newClient(t, addrs(nodes), client.WithTokenAware(time.Minute))
		key := keyOn(t, table, "n2")
		waitRouted(ctx, t, c, nodes, key, 1)
		before := counts(nodes)
		nodes[1].Fail("", clienttest.StatusError(codes.Unavailable, "shutting down", nil))
		for i := range 3 {
			if _, err := c.Get(ctx, key); err != nil {
				t.Fatalf("Get %d: %v", i, err)
			}
		}
		got := counts(nodes)
		if d := got[1] - before[1]; d != 1 {
			t.Errorf("n2 got %d requests, want 1 (then known bad)", d)
		}
		if d := got[2] - before[2]; d != 3 {
			t.Errorf("n3 got %d requests, want 3", d)
		}
		if d := got[0] - before[0]; d != 0 {
			t.Errorf("n1 got %d requests, want 0", d)
		}
	})
	t.Run("no replica answers: the endpoints, each address once", func(t *testing.T) {
		nodes := startNodes(t)
		serveTable(nodes, fixed("n3", "n2"))
		// n2 is the first endpoint, so the client's current endpoint: it
		// is tried once as a replica and then skipped as an endpoint.
		c := newClient(t, []string{nodes[1].Addr(), nodes[0].Addr(), nodes[2].Addr()}, client.WithTokenAware(time.Minute))
		key := []byte("k")
		waitRouted(ctx, t, c, nodes, key, 2)
		before := counts(nodes)
		for _, n := range nodes[1:] {
			// Get only: RingTable still answers, so the refresh this
			// triggers leaves the current endpoint at n2.
			n.Fail("Get", clienttest.StatusError(codes.Unavailable, "shutting down", nil))
		}
		if _, err := c.Get(ctx, key); err != nil {
			t.Fatalf("Get: %v", err)
		}
		got := counts(nodes)
		for i, want := range []int{1, 1, 1} {
			if d := got[i] - before[i]; d != want {
				t.Errorf("%s got %d requests, want %d", nodes[i].NodeID, d, want)
			}
		}
	})
	t.Run("no node answers", func(t *testing.T) {
		nodes := startNodes(t)
		serveTable(nodes, fixed("n2", "n3"))
		c := newClient(t, addrs(nodes), client.WithTokenAware(time.Minute), client.WithTimeout(200*time.Millisecond))
		waitRouted(ctx, t, c, nodes, []byte("k"), 1)
		for _, n := range nodes {
			n.Stop()
		}
		_, err := c.Get(ctx, []byte("k"))
		if !errors.Is(err, client.ErrNoEndpoint) {
			t.Fatalf("Get error = %v, want ErrNoEndpoint", err)
		}
		for _, n := range nodes {
			if !strings.Contains(err.Error(), n.Addr()) {
				t.Errorf("error %q does not name %s", err, n.Addr())
			}
		}
	})
}

func TestClient_tokenAware_replicaErrorIsTheAnswer(t *testing.T) {
	ctx := context.Background()
	nodes := startNodes(t)
	table := rotated(nodes, 0)
	serveTable(nodes, table)
	c := newClient(t, addrs(nodes), client.WithTokenAware(time.Minute))
	key := keyOn(t, table, "n2")
	waitRouted(ctx, t, c, nodes, key, 1)
	before := counts(nodes)
	const msg = "QUORUM write: 1 of 2 required acknowledgements"
	nodes[1].Fail("Put", clienttest.StatusError(codes.Unavailable, msg, &quorumkvv1.Receipt{
		Coordinator: "n2", Level: quorumkvv1.Consistency_CONSISTENCY_QUORUM, Required: 2,
		Acknowledged: []string{"n2"}, Applied: quorumkvv1.Applied_APPLIED_PARTIAL,
	}))
	_, err := c.Put(ctx, key, []byte("v"))
	var ce *client.Error
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &ce) {
		t.Fatalf("Put error = %v, want ErrUnavailable", err)
	}
	if ce.Message != msg || ce.Endpoint != nodes[1].Addr() || ce.Receipt == nil || ce.Receipt.Coordinator != "n2" {
		t.Errorf("error = %+v, want the replica's message, address and receipt", ce)
	}
	got := counts(nodes)
	for i, want := range []int{0, 1, 0} {
		if d := got[i] - before[i]; d != want {
			t.Errorf("%s got %d requests, want %d", nodes[i].NodeID, d, want)
		}
	}
}

func TestClient_tokenAware_followsRingChanges(t *testing.T) {
	ctx := context.Background()
	nodes := startNodes(t)
	serveTable(nodes, rotated(nodes, 0))
	c := newClient(t, addrs(nodes), client.WithTokenAware(20*time.Millisecond))
	key := keyOn(t, rotated(nodes, 0), "n2") // n3 first once shifted by one
	waitRouted(ctx, t, c, nodes, key, 1)
	serveTable(nodes, rotated(nodes, 1))
	waitRouted(ctx, t, c, nodes, key, 2)
	// A node that leaves the table gets no more requests.
	only := clienttest.RingTable(nodes[:1], fixed("n1"))
	for _, n := range nodes {
		n.SetRingTable(only)
	}
	waitRouted(ctx, t, c, nodes, key, 0)
}

func TestClient_tokenAware_endpointsUntilTable(t *testing.T) {
	ctx := context.Background()
	t.Run("option off", func(t *testing.T) {
		nodes := startNodes(t)
		serveTable(nodes, rotated(nodes, 0))
		c := newClient(t, addrs(nodes))
		time.Sleep(50 * time.Millisecond) // room for a (wrong) table fetch
		for i := range 30 {
			if got := landedOn(t, nodes, func() error { _, err := c.Get(ctx, []byte(fmt.Sprintf("k%d", i))); return err }); got != 0 {
				t.Fatalf("Get %d reached %s, want the first endpoint", i, nodes[got].NodeID)
			}
		}
		for _, n := range nodes {
			if got := tableRequests(n); got != 0 {
				t.Errorf("%s got %d RingTable requests, want 0", n.NodeID, got)
			}
		}
	})
	t.Run("not joined", func(t *testing.T) {
		nodes := startNodes(t) // RingTable answers "not joined"
		c := newClient(t, addrs(nodes), client.WithTokenAware(10*time.Millisecond))
		deadline := time.Now().Add(5 * time.Second)
		for tableRequests(nodes[0])+tableRequests(nodes[1])+tableRequests(nodes[2]) < 6 {
			if time.Now().After(deadline) {
				t.Fatal("the client does not keep asking for the table")
			}
			time.Sleep(5 * time.Millisecond)
		}
		for i := range 30 {
			if got := landedOn(t, nodes, func() error { _, err := c.Get(ctx, []byte(fmt.Sprintf("k%d", i))); return err }); got != 0 {
				t.Fatalf("Get %d reached %s, want the first endpoint", i, nodes[got].NodeID)
			}
		}
	})
	t.Run("admin calls", func(t *testing.T) {
		nodes := startNodes(t)
		serveTable(nodes, fixed("n2"))
		c := newClient(t, addrs(nodes), client.WithTokenAware(time.Minute))
		waitRouted(ctx, t, c, nodes, []byte("k"), 1)
		before := len(nodes[1].Requests())
		if _, err := c.Status(ctx); err != nil {
			t.Fatalf("Status: %v", err)
		}
		if _, err := c.Ring(ctx, []byte("k")); err != nil {
			t.Fatalf("Ring: %v", err)
		}
		if got := len(nodes[1].Requests()) - before; got != 0 {
			t.Errorf("n2 got %d admin requests, want 0 (they go to the endpoints)", got)
		}
	})
}

func TestClient_tokenAware_closeStopsRefresh(t *testing.T) {
	ctx := context.Background()
	nodes := startNodes(t)
	serveTable(nodes, rotated(nodes, 0))
	ignore := goleak.IgnoreCurrent()
	c, err := client.New(addrs(nodes), client.WithTokenAware(5*time.Millisecond))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	waitRouted(ctx, t, c, nodes, keyOn(t, rotated(nodes, 0), "n3"), 2)
	total := func() int { return tableRequests(nodes[0]) + tableRequests(nodes[1]) + tableRequests(nodes[2]) }
	deadline := time.Now().Add(5 * time.Second)
	for total() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the client does not refresh the table")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	after := total()
	time.Sleep(50 * time.Millisecond)
	if got := total(); got != after {
		t.Errorf("%d RingTable requests after Close, want 0", got-after)
	}
	goleak.VerifyNone(t, ignore)
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
