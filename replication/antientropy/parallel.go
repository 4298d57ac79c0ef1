package antientropy

import (
	"context"
	"fmt"
	"sync"
)

// forEach calls fn(i) for every i in [0, n), at most limit at once, and
// returns when all calls have; once ctx is done it starts no more.
func forEach(ctx context.Context, n, limit int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, limit))
	for i := range n {
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				fn(i)
			}()
			continue
		}
		break
	}
	wg.Wait()
}

// failures collects the failures of independent steps: how many, and the
// first.
type failures struct {
	mu    sync.Mutex
	n     int
	first error
}

// add records err; nil is ignored.
func (f *failures) add(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.first = err
	}
	f.n++
}

// err returns nil, the only failure, or a count of what failed with the
// first failure wrapped.
func (f *failures) err(what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.n {
	case 0:
		return nil
	case 1:
		return f.first
	}
	return fmt.Errorf("%d %s failed, the first: %w", f.n, what, f.first)
}
