package bench

import (
	"context"

	"github.com/quorumkv/quorumkv/client"
)

// ClientStore sends the runner's operations through a Go client at one
// consistency level. Build the client with client.WithTokenAware so each
// request goes straight to a replica of its key.
type ClientStore struct {
	Client *client.Client
	Level  client.Consistency
}

var _ Store = ClientStore{}

// Get implements Store.
func (s ClientStore) Get(ctx context.Context, key []byte) ([]byte, error) {
	r, err := s.Client.Get(ctx, key, client.WithConsistency(s.Level))
	if err != nil {
		return nil, err
	}
	return r.Context, nil
}

// Put implements Store.
func (s ClientStore) Put(ctx context.Context, key, value, token []byte) error {
	opts := []client.CallOption{client.WithConsistency(s.Level)}
	if len(token) > 0 {
		opts = append(opts, client.WithContext(token))
	}
	_, err := s.Client.Put(ctx, key, value, opts...)
	return err
}

// SAdd implements Store.
func (s ClientStore) SAdd(ctx context.Context, key, member []byte) error {
	_, err := s.Client.SAdd(ctx, key, [][]byte{member}, client.WithConsistency(s.Level))
	return err
}
