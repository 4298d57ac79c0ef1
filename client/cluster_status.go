package client

import (
	"bytes"
	"context"
	"sync"

	"google.golang.org/grpc"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// MemberReport is one member of the cluster with its own Status, as
// ClusterStatus gathers it.
type MemberReport struct {
	Member
	// Status is what the member answered; nil when it was not asked (it is
	// dead, left or removed, or has no gRPC address) or did not answer.
	Status *Status
	// Err is why an alive or suspect member did not answer; nil otherwise.
	Err error
}

// ClusterStatus is every member's state and whether the replicas agree.
type ClusterStatus struct {
	// Members lists every member the answering node knows, sorted by id.
	Members []MemberReport
	// InSync is true when every replica set holds the same data: for each
	// partition, every current replica answered and all of them have the
	// same Merkle root; and when every member replicates every partition,
	// the replicas' digests are equal too. A replica that did not answer
	// makes it false.
	InSync bool
}

// ClusterStatus asks the answering node for the members and the ring, then
// every member that is alive or suspect, at its own gRPC address, for its
// Status and the Merkle roots of the partitions it replicates; it compares
// the roots of each partition's replicas. Members are asked in parallel,
// each within the call's timeout. It fails only when no endpoint answers
// the first two questions; a member that does not answer gets a report
// with Err set.
func (c *Client) ClusterStatus(ctx context.Context, opts ...CallOption) (*ClusterStatus, error) {
	cc := c.callConfig(opts)
	members, err := c.Members(ctx, opts...)
	if err != nil {
		return nil, err
	}
	var table *quorumkvv1.RingTableResponse
	err = c.invoke(ctx, cc, false, func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		table, err = kv.RingTable(ctx, &quorumkvv1.RingTableRequest{})
		return err
	})
	if err != nil {
		table = nil // not joined: no ring, so nothing is known to be in sync
	}
	out := &ClusterStatus{Members: make([]MemberReport, len(members))}
	var wg sync.WaitGroup
	for i, m := range members {
		out.Members[i].Member = m
		if !askable(m) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out.Members[i].Status, out.Members[i].Err = c.memberStatus(ctx, cc, m.GRPCAddr, true)
		}()
	}
	wg.Wait()
	out.InSync = inSync(out.Members, table)
	return out, nil
}

// askable reports whether m is worth asking for its status.
func askable(m Member) bool {
	return m.GRPCAddr != "" && (m.State == Alive || m.State == Suspect) &&
		m.RingState != Left && m.RingState != Removed
}

// StatusOf asks member m itself, at its gRPC address and on a connection
// of its own, for its Status (without partition roots): kvctl members
// shows the progress of the moves of joining and leaving members with it.
func (c *Client) StatusOf(ctx context.Context, m Member, opts ...CallOption) (*Status, error) {
	return c.memberStatus(ctx, c.callConfig(opts), m.GRPCAddr, false)
}

// memberStatus asks the node at addr for its Status, with partition roots
// if roots, on a connection of its own.
func (c *Client) memberStatus(ctx context.Context, cc callConfig, addr string, roots bool) (*Status, error) {
	conn, err := grpc.NewClient(addr, c.dial...)
	if err != nil {
		return nil, fromStatus(err, addr)
	}
	defer func() { _ = conn.Close() }()
	var resp *quorumkvv1.StatusResponse
	if e := c.attempt(ctx, cc, addr, quorumkvv1.NewKVClient(conn), func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		resp, err = kv.Status(ctx, &quorumkvv1.StatusRequest{PartitionRoots: roots})
		return err
	}); e != nil {
		return nil, e
	}
	return statusFromProto(resp), nil
}

// inSync decides ClusterStatus.InSync from the members' reports and the
// ring table (nil when the answering node has none).
func inSync(members []MemberReport, table *quorumkvv1.RingTableResponse) bool {
	if table == nil || len(table.GetPartitionsReplicas()) == 0 {
		return false
	}
	byID := make(map[string]*Status, len(members))
	normal := 0
	for _, m := range members {
		byID[m.ID] = m.Status
		if m.RingState == Normal {
			normal++
		}
	}
	everywhere := true // every normal member replicates every partition
	inSets := map[string]bool{}
	for p, pr := range table.GetPartitionsReplicas() {
		ids := pr.GetReplicas()
		if len(ids) < normal {
			everywhere = false
		}
		var root []byte
		for i, id := range ids {
			inSets[id] = true
			st := byID[id]
			if st == nil {
				return false // a replica that did not answer, or unknown
			}
			r, ok := st.PartitionRoots[uint32(p)]
			if !ok {
				return false // it does not consider itself a replica yet
			}
			if i == 0 {
				root = r
			} else if !bytes.Equal(root, r) {
				return false
			}
		}
	}
	if !everywhere {
		return true
	}
	var digest []byte
	first := true
	for id := range inSets {
		d := byID[id].Digest
		if first {
			digest, first = d, false
		} else if !bytes.Equal(digest, d) {
			return false
		}
	}
	return true
}
