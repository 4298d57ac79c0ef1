package ring

import (
	"sync"
	"sync/atomic"
)

// Holder publishes the ring a node currently uses. Readers Load it without
// locking; the member table Stores a new ring whenever it changes; other
// components Subscribe to learn that it changed.
//
// The zero value holds no ring (Load returns nil) and is ready to use. A
// Holder is safe for concurrent use and must not be copied after first use.
// It starts no goroutines.
type Holder struct {
	cur atomic.Pointer[Ring]

	mu     sync.Mutex // serializes Store and guards subs
	nextID uint64
	subs   map[uint64]chan struct{}
}

// NewHolder returns a Holder holding r (which may be nil).
func NewHolder(r *Ring) *Holder {
	h := &Holder{}
	h.cur.Store(r)
	return h
}

// Load returns the current ring, or nil if none was stored yet. It never
// blocks. The ring is immutable and may be kept for as long as needed.
func (h *Holder) Load() *Ring { return h.cur.Load() }

// Store makes r the current ring. If r is Equal to the current ring, Store
// changes nothing and signals no one; otherwise every subscriber is
// signalled. It never blocks on subscribers.
func (h *Holder) Store(r *Ring) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur.Load().Equal(r) {
		return
	}
	h.cur.Store(r)
	for _, ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending: changes coalesce
		}
	}
}

// Subscribe returns a channel that receives a signal after every change of
// the ring stored in h, and a cancel func. Signals coalesce: the channel has
// a buffer of one, so a slow reader sees one signal for any number of
// changes and then calls Load for the latest ring. A change stored after
// Subscribe returns is never missed, so subscribe first, then Load.
//
// cancel stops the signals; it is idempotent and safe to call from any
// goroutine. The channel is never closed.
func (h *Holder) Subscribe() (ch <-chan struct{}, cancel func()) {
	c := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = make(map[uint64]chan struct{})
	}
	id := h.nextID
	h.nextID++
	h.subs[id] = c
	return c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, id)
	}
}
