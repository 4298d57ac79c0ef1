package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/quorumkv/quorumkv/keyspace"
	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// nodeConn is the client's connection to one node address.
type nodeConn struct {
	addr string
	conn *grpc.ClientConn
	kv   quorumkvv1.KVClient
	// badUntil is when a failure to answer stops counting against the node,
	// in Unix nanoseconds; 0 when the last attempt was answered.
	badUntil atomic.Int64
}

// bad reports whether the node is known not to answer at now: it did not
// answer recently, or its connection is failing.
func (nc *nodeConn) bad(now time.Time) bool {
	if until := nc.badUntil.Load(); until != 0 && now.UnixNano() < until {
		return true
	}
	return nc.conn.GetState() == connectivity.TransientFailure
}

// failed records that the node did not answer: it is bad until until.
func (nc *nodeConn) failed(until time.Time) { nc.badUntil.Store(until.UnixNano()) }

// answered records that the node answered.
func (nc *nodeConn) answered() {
	if nc.badUntil.Load() != 0 {
		nc.badUntil.Store(0)
	}
}

// ringTable is one fetched partition table, resolved to connections. It is
// immutable once built.
type ringTable struct {
	// replicas holds, by partition, the connections to the partition's
	// replicas in preference order; replicas without a known address are
	// left out.
	replicas [][]*nodeConn
}

// router sends key operations to their replicas (WithTokenAware). It owns
// the goroutine that refreshes the ring table and the connections it opened
// to nodes that are not endpoints.
type router struct {
	// every is the refresh interval, and how long a node that did not
	// answer is skipped.
	every time.Duration
	// fetch asks the endpoints for the table.
	fetch func(context.Context) (*quorumkvv1.RingTableResponse, error)
	// dial opens a connection to a node address.
	dial func(addr string) (*grpc.ClientConn, error)
	now  func() time.Time
	// table is nil until the first table arrives.
	table atomic.Pointer[ringTable]
	// kick (buffer of one) asks for a refresh now.
	kick chan struct{}

	// conns and owned are used by the refresh goroutine only, then by stop.
	conns map[string]*nodeConn // by address, the endpoints' included
	owned []*grpc.ClientConn   // the connections dial opened

	cancel context.CancelFunc // ends the refresh goroutine
	wg     sync.WaitGroup     // the refresh goroutine
}

// newRouter returns a router whose address book starts with the endpoints'
// connections (shared, not owned) and starts its refresh goroutine.
//
// The refresh goroutine lives until Close, not for a request, so its context
// is its own; contextcheck reads the directive below and stops flagging
// every caller of New, and nolintlint cannot see that use.
//
//nolint:contextcheck,nolintlint // see above
func newRouter(every time.Duration, endpoints []*nodeConn,
	fetch func(context.Context) (*quorumkvv1.RingTableResponse, error),
	dial func(string) (*grpc.ClientConn, error),
) *router {
	r := &router{
		every: every,
		fetch: fetch,
		dial:  dial,
		now:   time.Now,
		kick:  make(chan struct{}, 1),
		conns: make(map[string]*nodeConn, len(endpoints)),
	}
	for _, nc := range endpoints {
		if _, ok := r.conns[nc.addr]; !ok {
			r.conns[nc.addr] = nc
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(1)
	go r.run(ctx)
	return r
}

// retryEmpty bounds the wait between fetches while no table is known (a
// cluster still forming answers "not joined" for a while).
const retryEmpty = time.Second

// run fetches the table now, then every r.every and whenever kicked, until
// ctx ends.
func (r *router) run(ctx context.Context) {
	defer r.wg.Done()
	timer := time.NewTimer(r.every)
	defer timer.Stop()
	for {
		if resp, err := r.fetch(ctx); err == nil {
			if t, err := r.build(resp); err == nil {
				r.table.Store(t)
			}
		}
		next := r.every
		if r.table.Load() == nil {
			next = min(next, retryEmpty)
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.kick:
		}
	}
}

// build resolves a fetched table to connections, opening those to new
// addresses. Only the refresh goroutine calls it.
func (r *router) build(resp *quorumkvv1.RingTableResponse) (*ringTable, error) {
	if resp.GetPartitions() != keyspace.Q || len(resp.GetPartitionsReplicas()) != keyspace.Q {
		return nil, fmt.Errorf("ring table has %d partitions and %d replica lists, want %d",
			resp.GetPartitions(), len(resp.GetPartitionsReplicas()), keyspace.Q)
	}
	byID := make(map[string]*nodeConn, len(resp.GetNodes()))
	for _, n := range resp.GetNodes() {
		nc, err := r.conn(n.GetGrpcAddr())
		if err != nil {
			continue // an address gRPC cannot parse: its replicas are skipped
		}
		byID[n.GetId()] = nc
	}
	t := &ringTable{replicas: make([][]*nodeConn, keyspace.Q)}
	for p, pr := range resp.GetPartitionsReplicas() {
		for _, id := range pr.GetReplicas() {
			if nc, ok := byID[id]; ok {
				t.replicas[p] = append(t.replicas[p], nc)
			}
		}
	}
	return t, nil
}

// conn returns the connection to addr, opening it on first use.
func (r *router) conn(addr string) (*nodeConn, error) {
	if nc, ok := r.conns[addr]; ok {
		return nc, nil
	}
	if addr == "" {
		return nil, fmt.Errorf("empty node address")
	}
	conn, err := r.dial(addr)
	if err != nil {
		return nil, err
	}
	r.owned = append(r.owned, conn)
	nc := &nodeConn{addr: addr, conn: conn, kv: quorumkvv1.NewKVClient(conn)}
	r.conns[addr] = nc
	return nc, nil
}

// replicas returns the connections to key's replicas, in preference order,
// that are not known to be down; nil while no table is known. It never
// blocks.
func (r *router) replicas(key []byte) []*nodeConn {
	t := r.table.Load()
	if t == nil {
		return nil
	}
	all := t.replicas[keyspace.PartitionOf(key)]
	now := r.now()
	out := make([]*nodeConn, 0, len(all))
	for _, nc := range all {
		if !nc.bad(now) {
			out = append(out, nc)
		}
	}
	return out
}

// noAnswer records that nc did not answer and asks for a refresh of the
// table, without blocking.
func (r *router) noAnswer(nc *nodeConn) {
	nc.failed(r.now().Add(r.every))
	select {
	case r.kick <- struct{}{}:
	default: // a refresh is already wanted
	}
}

// stop ends the refresh goroutine, waits for it, and closes the
// connections the router opened. The caller calls it once.
func (r *router) stop() []error {
	r.cancel()
	r.wg.Wait()
	errs := make([]error, 0, len(r.owned))
	for _, conn := range r.owned {
		errs = append(errs, conn.Close())
	}
	return errs
}
