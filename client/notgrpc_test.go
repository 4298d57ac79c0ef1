package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/client/clienttest"
)

// httpAddr serves HTTP/1.1, as a node's metrics port does.
func httpAddr(t *testing.T) string {
	t.Helper()
	h := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(h.Close)
	return h.Listener.Addr().String()
}

// hangUpAddr reads the first byte of every connection and closes it, as
// memberlist's TCP listener does with a message type it does not know.
func hangUpAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 1))
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		wg.Wait()
	})
	return lis.Addr().String()
}

// otherGRPCAddr serves gRPC without quorumkv's KV service.
func otherGRPCAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

func TestClient_notGRPCEndpoint(t *testing.T) {
	for name, addr := range map[string]string{"http": httpAddr(t), "hang up": hangUpAddr(t), "other grpc": otherGRPCAddr(t)} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, []string{addr})
			_, err := c.Get(context.Background(), []byte("k"))
			if !errors.Is(err, client.ErrNoEndpoint) {
				t.Fatalf("Get: %v, want ErrNoEndpoint", err)
			}
			if want := addr + " is not a quorumkv gRPC endpoint ("; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), "no quorumkv endpoint answered (") {
				t.Errorf("error %q does not start with %q", err, "no quorumkv endpoint answered (")
			}
		})
	}
}

func TestClient_notGRPCEndpoint_failsOver(t *testing.T) {
	srv := clienttest.Start(t, "n1")
	c := newClient(t, []string{httpAddr(t), srv.Addr()})
	if _, err := c.Get(context.Background(), []byte("k")); err != nil {
		t.Fatalf("Get: %v, want the second endpoint to answer", err)
	}

	dead := clienttest.DeadAddr(t)
	http := httpAddr(t)
	c = newClient(t, []string{http, dead})
	_, err := c.Get(context.Background(), []byte("k"))
	if !strings.HasPrefix(err.Error(), "no endpoint answered in time (") || !strings.Contains(err.Error(), http+" is not a quorumkv gRPC endpoint") ||
		!strings.Contains(err.Error(), dead+": ") {
		t.Errorf("error = %q, want no endpoint answered, naming both", err)
	}
}
