package node

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/quorumkv/quorumkv/replication"
)

// peerConns keeps one gRPC client connection per peer address, for
// forwarded client requests and partition streaming. The transport keeps
// its own streams.
type peerConns struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newPeerConns() *peerConns { return &peerConns{conns: map[string]*grpc.ClientConn{}} }

// get returns the connection to addr, creating it (lazily connecting).
func (p *peerConns) get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(replication.MaxMessageBytes), grpc.MaxCallSendMsgSize(replication.MaxMessageBytes)))
	if err != nil {
		return nil, err
	}
	p.conns[addr] = c
	return c, nil
}

func (p *peerConns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		_ = c.Close() // at shutdown: a close error changes nothing
		delete(p.conns, a)
	}
}
