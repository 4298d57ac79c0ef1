package resp

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/quorumkv/quorumkv/replication"
)

// memBackend is a Backend in memory for the listener's tests: one
// replica, no levels. fail, when set, is returned by every call; block,
// when set, is waited for (or ctx) by every call.
type memBackend struct {
	mu    sync.Mutex
	regs  map[string][][]byte
	sets  map[string]map[string]bool
	fail  error
	block chan struct{}
	calls int
}

var _ Backend = (*memBackend)(nil)

func newMemBackend() *memBackend {
	return &memBackend{regs: map[string][][]byte{}, sets: map[string]map[string]bool{}}
}

func (b *memBackend) enter(ctx context.Context) error {
	b.mu.Lock()
	b.calls++
	block, fail := b.block, b.fail
	b.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fail
}

func wrong(kind string) error {
	return fmt.Errorf("%w: key holds a %s", replication.ErrWrongType, kind)
}

func (b *memBackend) Get(ctx context.Context, key []byte, _ replication.Level) (replication.ReadResult, error) {
	if err := b.enter(ctx); err != nil {
		return replication.ReadResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.sets[string(key)]; ok {
		return replication.ReadResult{Token: []byte("t")}, wrong("set")
	}
	vs := b.regs[string(key)]
	return replication.ReadResult{Found: len(vs) > 0, Values: vs, Token: []byte("t")}, nil
}

func (b *memBackend) Put(ctx context.Context, key, value, token []byte, _ replication.Level) (replication.Receipt, error) {
	if err := b.enter(ctx); err != nil {
		return replication.Receipt{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.sets[string(key)]; ok {
		return replication.Receipt{}, wrong("set")
	}
	if len(token) == 0 { // blind: a sibling more, as under siblings
		b.regs[string(key)] = append(b.regs[string(key)], bytes.Clone(value))
	} else {
		b.regs[string(key)] = [][]byte{bytes.Clone(value)}
	}
	return replication.Receipt{}, nil
}

func (b *memBackend) Delete(ctx context.Context, key []byte, _ replication.Level) (replication.Receipt, error) {
	if err := b.enter(ctx); err != nil {
		return replication.Receipt{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.regs, string(key))
	delete(b.sets, string(key))
	return replication.Receipt{}, nil
}

func (b *memBackend) SetAdd(ctx context.Context, key []byte, members [][]byte, _ replication.Level) (replication.Receipt, error) {
	if err := b.enter(ctx); err != nil {
		return replication.Receipt{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.regs[string(key)]; ok {
		return replication.Receipt{}, wrong("register")
	}
	set := b.sets[string(key)]
	if set == nil {
		set = map[string]bool{}
		b.sets[string(key)] = set
	}
	for _, m := range members {
		set[string(m)] = true
	}
	return replication.Receipt{}, nil
}

func (b *memBackend) SetRemove(ctx context.Context, key []byte, members [][]byte, _ replication.Level) (replication.Receipt, error) {
	if err := b.enter(ctx); err != nil {
		return replication.Receipt{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range members {
		delete(b.sets[string(key)], string(m))
	}
	return replication.Receipt{}, nil
}

func (b *memBackend) SetMembers(ctx context.Context, key []byte, _ replication.Level) (replication.ReadResult, error) {
	if err := b.enter(ctx); err != nil {
		return replication.ReadResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.regs[string(key)]; ok {
		return replication.ReadResult{}, wrong("register")
	}
	var ms [][]byte
	for m := range b.sets[string(key)] {
		ms = append(ms, []byte(m))
	}
	slices.SortFunc(ms, bytes.Compare)
	return replication.ReadResult{Found: len(ms) > 0, Members: ms}, nil
}
