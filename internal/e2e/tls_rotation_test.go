package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

// TestTLS_certificateRotationUnderLoad renews every node's certificate on
// disk while clients write through both nodes (half the writes forwarded
// node to node), opening new connections as they go so that handshakes
// take the renewed certificates: no request fails.
func TestTLS_certificateRotationUnderLoad(t *testing.T) {
	c := startTLSCluster(t)
	cfg, err := security.ClientConfig(filepath.Join(c.certs, security.CACertFile),
		filepath.Join(c.certs, security.ClientCertFile("write")), filepath.Join(c.certs, security.ClientKeyFile("write")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		firstErr   error
		wg         sync.WaitGroup
	)
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				// A new client every 25 writes: new connections, new
				// handshakes.
				cl, err := client.New([]string{c.nodes[round%2].grpc}, client.WithTLS(cfg.Clone()), client.WithTimeout(5*time.Second))
				if err != nil {
					t.Error(err)
					return
				}
				for i := range 25 {
					_, err := cl.Put(ctx, []byte(fmt.Sprintf("rot-%d-%d-%d", g, round, i)), []byte("v"), client.WithConsistency(client.Quorum))
					if err != nil {
						failed.Add(1)
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						continue
					}
					ok.Add(1)
				}
				_ = cl.Close()
			}
		}()
	}
	waitWrites := func(n int64) {
		t.Helper()
		target := ok.Load() + n
		eventually(t, time.Minute, fmt.Sprintf("%d more writes", n), func() bool { return ok.Load() >= target || failed.Load() > 0 })
	}
	waitWrites(200)
	for i, id := range []string{"n1", "n2"} {
		for _, f := range []string{security.NodeCertFile(id), security.NodeKeyFile(id)} {
			if err := os.Remove(filepath.Join(c.certs, f)); err != nil {
				t.Fatal(err)
			}
		}
		certs(t, "create-node", id, "--host", "127.0.0.1,localhost", "--dir", c.certs)
		eventually(t, 30*time.Second, id+" reloads its certificate", func() bool {
			// A handshake makes the node look at its files.
			if conn, err := tls.Dial("tcp", c.nodes[i].grpc, withH2(cfg)); err == nil {
				_ = conn.Close()
			}
			return strings.Contains(c.nodes[i].stderr.String(), "TLS certificate reloaded")
		})
		waitWrites(200)
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d writes failed during the rotation; first: %v", n, n+ok.Load(), firstErr)
	}
	t.Logf("%d writes, none failed, while both nodes' certificates were renewed", ok.Load())
}

// withH2 is cfg for a raw TLS dial to a gRPC listener.
func withH2(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.NextProtos = []string{"h2"}
	return c
}
