package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime/debug"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/replication"
	"github.com/quorumkv/quorumkv/resp"
	"github.com/quorumkv/quorumkv/security"
)

// listenRESP binds the RESP listener when --resp-addr is given.
func (n *node) listenRESP() error {
	if n.cfg.RESPAddr == "" {
		return nil
	}
	lis, err := net.Listen("tcp", n.cfg.RESPAddr)
	if err != nil {
		return flagErr("resp-addr", "cannot listen on %s: %v", n.cfg.RESPAddr, err)
	}
	n.respLis = lis
	n.respAdvertised = advertisedRESPAddr(n.cfg, lis.Addr().String())
	n.onClose(func() { _ = lis.Close() }) // already closed once served
	return nil
}

// openRESP builds the RESP server on the bound listener: its data
// commands run through the same coordinator, forwarding and levels as
// the gRPC client API, and with TLS on it requires a client certificate
// of the cluster's CA, as the client listener does.
func (n *node) openRESP() error {
	if n.respLis == nil {
		return nil
	}
	level, _ := parseLevel(n.cfg.RESPConsistency) // validated
	cfg := resp.DefaultConfig()
	cfg.NodeID = n.cfg.NodeID
	cfg.Version = moduleVersion()
	cfg.Conflict = n.cfg.Conflict.String()
	cfg.ReadLevel, cfg.WriteLevel = level, level
	cfg.MaxClients = n.cfg.RESPMaxClients
	cfg.MaxCommandBytes = clientMaxRecvBytes(n.cfg)
	cfg.Backend = respBackend{s: &kvServer{n: n}}
	cfg.Cluster = respCluster{n}
	cfg.Observer = n.metrics.resp
	cfg.Logger = n.log
	if n.tls != nil {
		cfg.TLS = n.tls.ServerConfig()
		cfg.Identify = func(cs tls.ConnectionState) (security.Identity, error) {
			id, err := security.ConnIdentity(cs, time.Now())
			if err == nil && id.Node {
				if m, ok := n.member(id.Name); ok && m.State == ring.Removed {
					return security.Identity{}, errors.New("node " + id.Name + " was removed from the cluster: its certificate is refused")
				}
			}
			return id, err
		}
	}
	srv, err := resp.NewServer(cfg)
	if err != nil {
		return err
	}
	n.respSrv = srv
	n.onClose(srv.Close) // a no-op after a drain
	return nil
}

// parseLevel parses --resp-consistency.
func parseLevel(s string) (replication.Level, bool) {
	switch s {
	case "one":
		return replication.One, true
	case "quorum":
		return replication.Quorum, true
	case "all":
		return replication.All, true
	}
	return 0, false
}

// moduleVersion is the version HELLO and INFO report.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// respBackend runs RESP's data commands on the coordinator; a key this
// node does not coordinate goes through the client API's handler, which
// forwards it to a replica as it does a gRPC request (the identity in
// ctx travels with it).
type respBackend struct{ s *kvServer }

var _ resp.Backend = respBackend{}

// elsewhere reports whether err means another replica must coordinate.
func elsewhere(err error) bool {
	var (
		nre *replication.NotReplicaError
		cfe *replication.ClockFencedError
	)
	return errors.As(err, &nre) || errors.As(err, &cfe)
}

func (b respBackend) Get(ctx context.Context, key []byte, level replication.Level) (replication.ReadResult, error) {
	res, err := b.s.n.coord.Get(ctx, key, level)
	if !elsewhere(err) {
		return res, err
	}
	r, err := b.s.Get(ctx, &pb.GetRequest{Key: key, Consistency: levelToProto(level)})
	return replication.ReadResult{Found: r.GetFound(), Values: r.GetValues(), Token: r.GetContext()}, err
}

func (b respBackend) SetMembers(ctx context.Context, key []byte, level replication.Level) (replication.ReadResult, error) {
	res, err := b.s.n.coord.SetMembers(ctx, key, level)
	if !elsewhere(err) {
		return res, err
	}
	r, err := b.s.SetMembers(ctx, &pb.SetMembersRequest{Key: key, Consistency: levelToProto(level)})
	return replication.ReadResult{Found: r.GetFound(), Members: r.GetMembers()}, err
}

func (b respBackend) Put(ctx context.Context, key, value, token []byte, level replication.Level) (replication.Receipt, error) {
	rec, err := b.s.n.coord.Put(ctx, key, value, token, level)
	if !elsewhere(err) {
		return rec, err
	}
	_, err = b.s.Put(ctx, &pb.PutRequest{Key: key, Value: value, Context: token, Consistency: levelToProto(level)})
	return replication.Receipt{}, err
}

func (b respBackend) Delete(ctx context.Context, key []byte, level replication.Level) (replication.Receipt, error) {
	rec, err := b.s.n.coord.Delete(ctx, key, level)
	if !elsewhere(err) {
		return rec, err
	}
	_, err = b.s.Delete(ctx, &pb.DeleteRequest{Key: key, Consistency: levelToProto(level)})
	return replication.Receipt{}, err
}

func (b respBackend) SetAdd(ctx context.Context, key []byte, members [][]byte, level replication.Level) (replication.Receipt, error) {
	rec, err := b.s.n.coord.SetAdd(ctx, key, members, level)
	if !elsewhere(err) {
		return rec, err
	}
	_, err = b.s.SetAdd(ctx, &pb.SetAddRequest{Key: key, Members: members, Consistency: levelToProto(level)})
	return replication.Receipt{}, err
}

func (b respBackend) SetRemove(ctx context.Context, key []byte, members [][]byte, level replication.Level) (replication.Receipt, error) {
	rec, err := b.s.n.coord.SetRemove(ctx, key, members, level)
	if !elsewhere(err) {
		return rec, err
	}
	_, err = b.s.SetRemove(ctx, &pb.SetRemoveRequest{Key: key, Members: members, Consistency: levelToProto(level)})
	return replication.Receipt{}, err
}

// respCluster answers INFO's cluster and keyspace sections.
type respCluster struct{ n *node }

func (c respCluster) Members() []resp.Member {
	r := ringView(c).Load()
	var out []resp.Member
	for _, m := range c.n.memberList() {
		rm := resp.Member{ID: m.ID, GRPCAddr: m.GRPCAddr, Liveness: m.Liveness, RingState: m.State.String()}
		if r != nil {
			rm.Ownership = r.Ownership(m.ID)
		}
		out = append(out, rm)
	}
	return out
}

func (c respCluster) Keys() (uint64, uint64) {
	st := c.n.store.Stats()
	return st.Keys, st.Tombstones
}

// respAddr is the address the RESP listener is bound to, "" when off.
func (n *node) respAddr() string {
	if n.respLis == nil {
		return ""
	}
	return n.respLis.Addr().String()
}
