package bench

import (
	"context"
	"sync"
	"time"
)

// fakeStore is an in-memory Store that counts what it receives, answers
// after a fixed service time, and can stall: every operation that arrives
// during [stallAt, stallAt+stallFor) waits until the stall ends, as a
// server pausing (a GC, a disk hiccup).
type fakeStore struct {
	service  time.Duration
	stallAt  time.Time
	stallFor time.Duration

	mu     sync.Mutex
	gets   int
	puts   int
	ctxPut int // puts with a context token
	sadds  int
	keys   map[string]int // operations per key
}

func newFakeStore(service time.Duration) *fakeStore {
	return &fakeStore{service: service, keys: map[string]int{}}
}

// wait simulates the service time and the stall.
func (f *fakeStore) wait(ctx context.Context) error {
	d := f.service
	if now := time.Now(); f.stallFor > 0 && !now.Before(f.stallAt) && now.Before(f.stallAt.Add(f.stallFor)) {
		d += f.stallAt.Add(f.stallFor).Sub(now)
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (f *fakeStore) count(key []byte, field *int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*field++
	f.keys[string(key)]++
}

func (f *fakeStore) Get(ctx context.Context, key []byte) ([]byte, error) {
	f.count(key, &f.gets)
	return []byte("token"), f.wait(ctx)
}

func (f *fakeStore) Put(ctx context.Context, key, _, token []byte) error {
	if len(token) > 0 {
		f.mu.Lock()
		f.ctxPut++
		f.mu.Unlock()
	}
	f.count(key, &f.puts)
	return f.wait(ctx)
}

func (f *fakeStore) SAdd(ctx context.Context, key, _ []byte) error {
	f.count(key, &f.sadds)
	return f.wait(ctx)
}
