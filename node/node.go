package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/storage"
)

// node holds the wired components of a running server.
type node struct {
	cfg      Config
	log      *slog.Logger
	store    *storage.Engine
	cluster  *clusterState
	coord    *replication.Coordinator
	limits   keyspace.Limits
	metrics  *metrics
	grpcAddr string // the address actually bound
	ready    atomic.Bool
}

// grpcOverhead is the room left above the largest value in a gRPC message,
// for the key, the token and framing.
const grpcOverhead = 1 << 20

// Run starts a node and serves until ctx is done, then stops taking
// requests, lets those in flight finish within cfg.ShutdownTimeout, and
// closes storage. It returns nil after a clean shutdown. Listening sockets
// are bound before Run logs "serving", so a caller may connect from then on.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	n := &node{cfg: cfg, log: log, limits: keyspace.Limits{MaxKeyBytes: cfg.MaxKeyBytes, MaxValueBytes: cfg.MaxValueBytes}}
	n.metrics = newMetrics()

	scfg := storage.DefaultConfig()
	scfg.Dir = cfg.DataDir
	scfg.Policy = cfg.Conflict
	scfg.OnSync = n.metrics.observeCommit
	store, err := storage.Open(scfg)
	if err != nil {
		return err
	}
	n.store = store
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close storage", "err", err)
		}
	}()
	n.metrics.watchStorage(store)

	if n.cluster, err = bootstrap(cfg, store, log); err != nil {
		return err
	}
	// The cluster's policy wins over the flag for a node not joined yet too:
	// they are equal when the cluster was created from these flags.
	policy := policyFromProto(n.cluster.settings.Conflict)
	dots, err := conflict.OpenDotIssuer(store, 0, nil)
	if err != nil {
		return err
	}
	clock := conflict.NewClock(cfg.Wall, cfg.MaxClockOffset)
	n.coord, err = replication.NewCoordinator(replication.Config{
		NodeID:      cfg.NodeID,
		Policy:      policy,
		MaxSiblings: cfg.MaxSiblings,
		Limits:      n.limits,
		Joined:      func() bool { return n.cluster.joined },
	}, store, dots, clock, n.cluster.keyring)
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return flagErr("grpc-addr", "cannot listen on %s: %v", cfg.GRPCAddr, err)
	}
	n.grpcAddr = lis.Addr().String()
	var httpLis net.Listener
	if cfg.MetricsAddr != "" {
		if httpLis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			lis.Close()
			return flagErr("metrics-addr", "cannot listen on %s: %v", cfg.MetricsAddr, err)
		}
	}

	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(cfg.MaxValueBytes+cfg.MaxKeyBytes+grpcOverhead),
		grpc.MaxSendMsgSize(1<<30),
		grpc.ChainUnaryInterceptor(n.metrics.unaryInterceptor),
	)
	pb.RegisterKVServer(srv, &kvServer{n: n})

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(lis); err != nil {
			errc <- fmt.Errorf("grpc server: %w", err)
		}
	}()
	var httpSrv *http.Server
	if httpLis != nil {
		httpSrv = &http.Server{Handler: n.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := httpSrv.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics server: %w", err)
			}
		}()
	}
	n.ready.Store(true)
	log.Info("serving", "node_id", cfg.NodeID, "grpc_addr", n.grpcAddr, "metrics_addr", cfg.MetricsAddr,
		"joined", n.cluster.joined, "conflict", policy)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case runErr = <-errc:
		log.Error("server failed", "err", runErr)
	}
	n.ready.Store(false)
	n.shutdown(srv, httpSrv)
	wg.Wait()
	return runErr
}

// shutdown stops taking requests and lets those in flight finish within
// the shutdown timeout, then cuts the rest.
func (n *node) shutdown(srv *grpc.Server, httpSrv *http.Server) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	timer := time.NewTimer(n.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		n.log.Warn("requests still in flight at the shutdown timeout; cutting them")
		srv.Stop()
		<-done
	}
	if httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := httpSrv.Shutdown(ctx); err != nil {
			httpSrv.Close()
		}
	}
}
