package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// procMemKiB returns the field (VmRSS, VmHWM) of /proc/PID/status in KiB.
func procMemKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		if err != nil {
			t.Fatalf("%s: %q: %v", field, rest, err)
		}
		return kib
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// The client listener refuses a message above its receive limit (largest
// key + value + context token + 64 KiB) from its length prefix, before
// reading it whole: 20 concurrent 2 MiB requests, several times over, are
// all refused with ResourceExhausted and the node's peak resident memory
// grows by far less than they would take if buffered.
func TestClientListener_refusesLargeRequestsWithoutBufferingThem(t *testing.T) {
	p := startNode(t, nodeOpts{})
	pid := p.cmd.Process.Pid
	conn, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv := pb.NewKVClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("warm"), Value: []byte("up")}); err != nil {
		t.Fatalf("small put: %v", err)
	}
	before := procMemKiB(t, pid, "VmRSS")
	value := make([]byte, 2<<20)
	const rounds, concurrent = 5, 20
	for round := range rounds {
		errs := make([]error, concurrent)
		var wg sync.WaitGroup
		for i := range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = kv.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprintf("big-%d", i)), Value: value})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("round %d, request %d: %v, want ResourceExhausted", round, i, err)
			}
		}
	}
	after, peak := procMemKiB(t, pid, "VmRSS"), procMemKiB(t, pid, "VmHWM")
	t.Logf("VmRSS %d KiB before, %d KiB after %d x %d refused 2 MiB requests; VmHWM %d KiB", before, after, rounds, concurrent, peak)
	const bound = 200 << 10 // KiB
	if after-before > bound || peak-before > bound {
		t.Fatalf("resident memory grew from %d KiB to %d KiB (peak %d KiB): more than %d KiB", before, after, peak, bound)
	}
	if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("after"), Value: make([]byte, 1<<20)}); err != nil {
		t.Fatalf("a put of the largest value after the refusals: %v", err)
	}
}
