package replication_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/replication/replicationtest"
)

// register returns a register object holding value, written by actor as
// its counter-th dot.
func register(actor, counter uint64, value string) *conflict.Object {
	return registerPolicy(conflict.LWW, actor, counter, []byte(value))
}

func registerPolicy(p conflict.Policy, actor, counter uint64, value []byte) *conflict.Object {
	o := &conflict.Object{}
	o.Put(p, conflict.Dot{Actor: conflict.ActorID(actor), Counter: counter},
		conflict.Timestamp{Wall: 1_700_000_000_000_000_000 + int64(counter)}, value, conflict.Context{})
	return o
}

func assertObject(t *testing.T, got, want *conflict.Object) {
	t.Helper()
	if got == nil || !bytes.Equal(got.Marshal(), want.Marshal()) {
		t.Fatalf("object = %+v, want %+v", got, want)
	}
}

// transports builds, for each Transport implementation, a transport from
// node n1 to a peer n2 serving rep.
var transports = map[string]func(t *testing.T, rep replication.Replica) replication.Transport{
	"grpc": func(t *testing.T, rep replication.Replica) replication.Transport {
		peer := startPeer(t, rep, "127.0.0.1:0")
		return newTransport(t, newResolver("n2", peer.addr), replication.DefaultGRPCTransportConfig())
	},
	"inmem": func(t *testing.T, rep replication.Replica) replication.Transport {
		net := replicationtest.NewInmemNetwork(1)
		net.Add("n2", rep)
		tr := net.Transport("n1")
		t.Cleanup(func() { _ = tr.Close() })
		return tr
	},
}

// TestTransport_contract runs the Transport contract against every
// implementation.
func TestTransport_contract(t *testing.T) {
	for name, newTr := range transports {
		t.Run(name, func(t *testing.T) {
			rep, release := blockingReplica()
			defer release()
			tr := newTr(t, rep)
			ctx := context.Background()

			sent := register(1, 1, "v")
			got, err := tr.Apply(ctx, "n2", []byte("k"), sent, false)
			if err != nil {
				t.Fatal(err)
			}
			assertObject(t, got, sent)
			// The caller owns what it got and what it sent: changing them
			// changes nothing on the peer.
			got.Reg.Siblings[0].Value[0] = 'X'
			sent.Reg.Siblings[0].Value[0] = 'Y'
			read, found, err := tr.Read(ctx, "n2", []byte("k"))
			if err != nil || !found {
				t.Fatalf("Read = %v, %v", found, err)
			}
			assertObject(t, read, register(1, 1, "v"))

			if _, found, err := tr.Read(ctx, "n2", []byte("none")); found || err != nil {
				t.Fatalf("Read(absent) = %v, %v; want false, nil", found, err)
			}
			if _, err := tr.Apply(ctx, "n3", []byte("k"), sent, false); !errors.Is(err, replication.ErrPeerUnknown) {
				t.Fatalf("apply to an unknown peer: %v, want ErrPeerUnknown", err)
			}

			rep.SetHook(func(context.Context, string, []byte) error {
				return fmt.Errorf("%w: 3s ahead", conflict.ErrClockOffset)
			})
			_, err = tr.Apply(ctx, "n2", []byte("k"), sent, false)
			var re *replication.RemoteError
			if !errors.As(err, &re) || re.Code != codes.InvalidArgument {
				t.Fatalf("refused apply: %v, want a RemoteError InvalidArgument", err)
			}
			rep.SetHook(nil)

			rep2, release2 := blockingReplica()
			defer release2()
			tr2 := newTr(t, rep2)
			cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err = tr2.Apply(cctx, "n2", []byte("slow"), sent, false)
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, replication.ErrIndeterminate) {
				t.Fatalf("apply past its deadline: %v, want DeadlineExceeded and ErrIndeterminate", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("apply past its deadline returned after %v", d)
			}
		})
	}
}

// inmemPair returns a network of n1 and n2, each with a MemReplica, and
// n1's and n2's transports.
func inmemPair(t *testing.T, seed uint64) (net *replicationtest.InmemNetwork, reps [2]*replicationtest.MemReplica, trs [2]*replicationtest.InmemTransport) {
	t.Helper()
	net = replicationtest.NewInmemNetwork(seed)
	for i, id := range []string{"n1", "n2"} {
		reps[i] = replicationtest.NewMemReplica(conflict.LWW)
		net.Add(id, reps[i])
		trs[i] = net.Transport(id)
		tr := trs[i]
		t.Cleanup(func() { _ = tr.Close() })
	}
	return net, reps, trs
}

// notSent asserts that err says the operation was not sent.
func notSent(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, replication.ErrPeerUnreachable) || errors.Is(err, replication.ErrIndeterminate) {
		t.Fatalf("error %v: want ErrPeerUnreachable, not ErrIndeterminate", err)
	}
}

func TestInmemNetwork_Partition(t *testing.T) {
	net, reps, trs := inmemPair(t, 1)
	ctx := context.Background()
	net.Partition("n1", "n2")
	_, err := trs[0].Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false)
	notSent(t, err)
	_, _, err = trs[1].Read(ctx, "n1", []byte("k"))
	notSent(t, err)
	if _, ok := reps[1].Object([]byte("k")); ok || net.Delivered("n1", "n2") != 0 {
		t.Fatal("a request crossed the partition")
	}
	net.Heal("n2", "n1")
	if _, err := trs[0].Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false); err != nil {
		t.Fatalf("apply after Heal: %v", err)
	}
	net.Partition("n1", "n2")
	net.HealAll()
	if _, _, err := trs[1].Read(ctx, "n1", []byte("k")); err != nil {
		t.Fatalf("read after HealAll: %v", err)
	}
}

func TestInmemNetwork_Cut_oneWay(t *testing.T) {
	net, reps, trs := inmemPair(t, 1)
	ctx := context.Background()
	net.Cut("n1", "n2")

	_, err := trs[0].Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false)
	notSent(t, err)

	// n2's request reaches n1, but n1's reply to it crosses the cut.
	_, err = trs[1].Apply(ctx, "n1", []byte("k"), register(2, 1, "w"), false)
	if !errors.Is(err, replication.ErrIndeterminate) || errors.Is(err, replication.ErrPeerUnreachable) {
		t.Fatalf("apply whose reply is cut: %v, want ErrIndeterminate only", err)
	}
	if _, ok := reps[0].Object([]byte("k")); !ok {
		t.Fatal("the apply whose reply was cut was not applied")
	}
	_, _, err = trs[1].Read(ctx, "n1", []byte("k"))
	if !errors.Is(err, replication.ErrPeerUnreachable) {
		t.Fatalf("read whose reply is cut: %v, want ErrPeerUnreachable", err)
	}
}

func TestInmemNetwork_DownUp(t *testing.T) {
	net, _, trs := inmemPair(t, 1)
	ctx := context.Background()
	net.Down("n2")
	_, err := trs[0].Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false)
	notSent(t, err)
	_, _, err = trs[1].Read(ctx, "n1", []byte("k"))
	notSent(t, err)
	net.Up("n2")
	if _, err := trs[0].Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false); err != nil {
		t.Fatal(err)
	}
	net.Remove("n2")
	if _, err := trs[0].Apply(ctx, "n2", []byte("k"), register(1, 1, "v"), false); !errors.Is(err, replication.ErrPeerUnknown) {
		t.Fatalf("apply to a removed node: %v, want ErrPeerUnknown", err)
	}
}

func TestInmemNetwork_DropRequests(t *testing.T) {
	outcomes := func(seed uint64) (string, int) {
		net, reps, trs := inmemPair(t, seed)
		net.DropRequests("n1", "n2", 0.5)
		var s []byte
		for i := range 200 {
			_, err := trs[0].Apply(context.Background(), "n2", fmt.Appendf(nil, "k%d", i), register(1, uint64(i+1), "v"), false)
			switch {
			case err == nil:
				s = append(s, '.')
			case errors.Is(err, replication.ErrPeerUnreachable) && !errors.Is(err, replication.ErrIndeterminate):
				s = append(s, 'x')
			default:
				t.Fatalf("dropped request: %v", err)
			}
		}
		applies, _, _ := reps[1].Counts()
		return string(s), applies
	}
	a, applied := outcomes(7)
	b, _ := outcomes(7)
	if a != b {
		t.Fatalf("the same seed dropped different requests:\n%s\n%s", a, b)
	}
	drops := bytes.Count([]byte(a), []byte("x"))
	if drops < 50 || drops > 150 {
		t.Fatalf("%d of 200 requests dropped at p=0.5", drops)
	}
	if applied != 200-drops {
		t.Fatalf("%d applied, want the %d not dropped", applied, 200-drops)
	}

	net, _, trs := inmemPair(t, 1)
	net.DropRequests("n1", "n2", 1)
	_, err := trs[0].Apply(context.Background(), "n2", []byte("k"), register(1, 1, "v"), false)
	notSent(t, err)
	net.DropRequests("n1", "n2", 0)
	if _, err := trs[0].Apply(context.Background(), "n2", []byte("k"), register(1, 1, "v"), false); err != nil {
		t.Fatal(err)
	}
}

func TestInmemNetwork_DropRepliesAfterApply(t *testing.T) {
	net, reps, trs := inmemPair(t, 1)
	net.DropRepliesAfterApply("n1", "n2", true)
	sent := register(1, 1, "v")
	_, err := trs[0].Apply(context.Background(), "n2", []byte("k"), sent, false)
	if !errors.Is(err, replication.ErrIndeterminate) || errors.Is(err, replication.ErrPeerUnreachable) {
		t.Fatalf("apply with its reply lost: %v, want ErrIndeterminate only", err)
	}
	held, ok := reps[1].Object([]byte("k"))
	if !ok {
		t.Fatal("apply with its reply lost was not applied")
	}
	assertObject(t, held, sent)
	// The other direction is unaffected.
	if _, err := trs[1].Apply(context.Background(), "n1", []byte("k"), sent, false); err != nil {
		t.Fatal(err)
	}
	net.ClearFaults()
	if _, err := trs[0].Apply(context.Background(), "n2", []byte("k"), sent, false); err != nil {
		t.Fatal(err)
	}
}

func TestInmemNetwork_SetDelay(t *testing.T) {
	net, _, trs := inmemPair(t, 1)
	const d = 30 * time.Millisecond
	net.SetDelay("n1", "n2", d)
	net.SetDelay("n2", "n1", d)
	start := time.Now()
	if _, err := trs[0].Apply(context.Background(), "n2", []byte("k"), register(1, 1, "v"), false); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*d {
		t.Fatalf("round trip took %v, want at least %v", took, 2*d)
	}

	// A caller that gives up while its request travels sent nothing.
	ctx, cancel := context.WithTimeout(context.Background(), d/3)
	defer cancel()
	before := net.Delivered("n1", "n2")
	_, err := trs[0].Apply(ctx, "n2", []byte("k"), register(1, 2, "v"), false)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, replication.ErrIndeterminate) {
		t.Fatalf("apply timing out in transit: %v, want DeadlineExceeded, not sent", err)
	}
	time.Sleep(2 * d)
	if net.Delivered("n1", "n2") != before {
		t.Fatal("a request given up in transit was delivered")
	}

	net.SetDelay("n1", "n2", 0)
	net.SetDelay("n2", "n1", 0)
	start = time.Now()
	if _, _, err := trs[0].Read(context.Background(), "n2", []byte("k")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= d {
		t.Fatalf("read without delay took %v", took)
	}
}

func TestInmemTransport_Close(t *testing.T) {
	net := replicationtest.NewInmemNetwork(1)
	rep, release := blockingReplica()
	defer release()
	net.Add("n2", rep)
	tr := net.Transport("n1")
	errc := make(chan error, 1)
	go func() {
		_, err := tr.Apply(context.Background(), "n2", []byte("slow"), register(1, 1, "v"), false)
		errc <- err
	}()
	for net.Delivered("n1", "n2") == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, replication.ErrTransportClosed) || !errors.Is(err, replication.ErrIndeterminate) {
		t.Fatalf("apply in flight at Close: %v, want ErrTransportClosed and ErrIndeterminate", err)
	}
	if _, err := tr.Apply(context.Background(), "n2", []byte("k"), register(1, 2, "v"), false); !errors.Is(err, replication.ErrTransportClosed) {
		t.Fatalf("apply after Close: %v, want ErrTransportClosed", err)
	}
}

// benchmarkApply applies small objects through tr to peer n2 from many
// goroutines.
func benchmarkApply(b *testing.B, tr replication.Transport) {
	obj := registerPolicy(conflict.LWW, 1, 1, bytes.Repeat([]byte("v"), 100))
	var n atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Appendf(nil, "key-%d", n.Add(1))
		for pb.Next() {
			if _, err := tr.Apply(context.Background(), "n2", key, obj, false); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkInmemTransport_Apply(b *testing.B) {
	net := replicationtest.NewInmemNetwork(1)
	net.Add("n2", echoReplica{})
	tr := net.Transport("n1")
	defer func() { _ = tr.Close() }()
	benchmarkApply(b, tr)
}
