package client

import (
	"context"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// GetResult is the value of a register key.
type GetResult struct {
	// Found is false for a missing or deleted key.
	Found bool
	// Values are the live values, one per sibling; a single value unless
	// the cluster keeps siblings and concurrent writes happened.
	Values [][]byte
	// Context is the opaque context token of this read, also when the key
	// was not found; give it to Put with WithContext.
	Context []byte
	// Receipt is what happened on the replicas.
	Receipt Receipt
}

// SetResult is the content of a set key.
type SetResult struct {
	// Found is false for a missing key or an emptied set.
	Found bool
	// Members are sorted bytewise, each once.
	Members [][]byte
	// Receipt is what happened on the replicas.
	Receipt Receipt
}

// Get reads a register key. A missing key is not an error: Found is false.
func (c *Client) Get(ctx context.Context, key []byte, opts ...CallOption) (*GetResult, error) {
	cc := c.callConfig(opts)
	var resp *quorumkvv1.GetResponse
	err := c.invokeKey(ctx, cc, key, func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		resp, err = kv.Get(ctx, &quorumkvv1.GetRequest{Key: key, Consistency: cc.consistency.proto()})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &GetResult{
		Found:   resp.GetFound(),
		Values:  nonNil(resp.GetValues()),
		Context: resp.GetContext(),
		Receipt: receiptFromProto(resp.GetReceipt()),
	}, nil
}

// Put writes value to a register key. With WithContext(token) it replaces
// exactly the values the read that returned token saw; without, it is a
// blind write.
func (c *Client) Put(ctx context.Context, key, value []byte, opts ...CallOption) (*Receipt, error) {
	cc := c.callConfig(opts)
	return c.write(ctx, cc, key, func(ctx context.Context, kv quorumkvv1.KVClient) (*quorumkvv1.Receipt, error) {
		resp, err := kv.Put(ctx, &quorumkvv1.PutRequest{Key: key, Value: value, Context: cc.context, Consistency: cc.consistency.proto()})
		return resp.GetReceipt(), err
	})
}

// Delete deletes a register key: it reads the key and writes a tombstone
// with that read's context. Deleting a missing key succeeds.
func (c *Client) Delete(ctx context.Context, key []byte, opts ...CallOption) (*Receipt, error) {
	cc := c.callConfig(opts)
	return c.write(ctx, cc, key, func(ctx context.Context, kv quorumkvv1.KVClient) (*quorumkvv1.Receipt, error) {
		resp, err := kv.Delete(ctx, &quorumkvv1.DeleteRequest{Key: key, Consistency: cc.consistency.proto()})
		return resp.GetReceipt(), err
	})
}

// SAdd adds members to a set key.
func (c *Client) SAdd(ctx context.Context, key []byte, members [][]byte, opts ...CallOption) (*Receipt, error) {
	cc := c.callConfig(opts)
	return c.write(ctx, cc, key, func(ctx context.Context, kv quorumkvv1.KVClient) (*quorumkvv1.Receipt, error) {
		resp, err := kv.SetAdd(ctx, &quorumkvv1.SetAddRequest{Key: key, Members: members, Consistency: cc.consistency.proto()})
		return resp.GetReceipt(), err
	})
}

// SRem removes members from a set key, as a read at the same level saw
// them. Members not in the set are ignored.
func (c *Client) SRem(ctx context.Context, key []byte, members [][]byte, opts ...CallOption) (*Receipt, error) {
	cc := c.callConfig(opts)
	return c.write(ctx, cc, key, func(ctx context.Context, kv quorumkvv1.KVClient) (*quorumkvv1.Receipt, error) {
		resp, err := kv.SetRemove(ctx, &quorumkvv1.SetRemoveRequest{Key: key, Members: members, Consistency: cc.consistency.proto()})
		return resp.GetReceipt(), err
	})
}

// SMembers reads a set key. A missing key is not an error: Found is false.
func (c *Client) SMembers(ctx context.Context, key []byte, opts ...CallOption) (*SetResult, error) {
	cc := c.callConfig(opts)
	var resp *quorumkvv1.SetMembersResponse
	err := c.invokeKey(ctx, cc, key, func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		resp, err = kv.SetMembers(ctx, &quorumkvv1.SetMembersRequest{Key: key, Consistency: cc.consistency.proto()})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &SetResult{
		Found:   resp.GetFound(),
		Members: nonNil(resp.GetMembers()),
		Receipt: receiptFromProto(resp.GetReceipt()),
	}, nil
}

// write runs a write of key whose response is only a receipt.
func (c *Client) write(ctx context.Context, cc callConfig, key []byte, fn func(context.Context, quorumkvv1.KVClient) (*quorumkvv1.Receipt, error)) (*Receipt, error) {
	var p *quorumkvv1.Receipt
	err := c.invokeKey(ctx, cc, key, func(ctx context.Context, kv quorumkvv1.KVClient) (err error) {
		p, err = fn(ctx, kv)
		return err
	})
	if err != nil {
		return nil, err
	}
	r := receiptFromProto(p)
	return &r, nil
}
