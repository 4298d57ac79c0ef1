package conflict

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// gatedStore is a LeaseStore whose saves block until the gate opens.
type gatedStore struct {
	mu    sync.Mutex
	lease Lease
	saved bool
	gate  chan struct{}
	saves int
}

func (g *gatedStore) LoadLease() (Lease, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lease, g.saved, nil
}

func (g *gatedStore) SaveLease(l Lease) error {
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lease, g.saved = l, true
	g.saves++
	return nil
}

// TestDotIssuer_refill_neverBlocksNext: with the refill running, Next never
// waits for a lease to be persisted (a coordinator mints dots inside its
// storage transaction, where waiting for storage would deadlock); it fails
// with ErrLeaseExhausted when the lease runs out, and the refill persists
// the next lease before any counter of it is handed out.
func TestDotIssuer_refill_neverBlocksNext(t *testing.T) {
	g := &gatedStore{gate: make(chan struct{})}
	close(g.gate) // open for the first lease
	d, err := OpenDotIssuer(g, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.gate = make(chan struct{}) // from now on saves block
	d.StartRefill()
	defer d.Close()
	seen := map[Dot]bool{}
	var exhausted bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			dot, err := d.Next()
			if errors.Is(err, ErrLeaseExhausted) {
				exhausted = true
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			seen[dot] = true
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Next blocked on a lease save")
	}
	if !exhausted || len(seen) != 8 {
		t.Fatalf("exhausted %v after %d dots, want true after 8", exhausted, len(seen))
	}
	close(g.gate) // the refill persists the next lease
	deadline := time.Now().Add(10 * time.Second)
	for {
		dot, err := d.Next()
		if err == nil {
			if seen[dot] {
				t.Fatalf("dot %v issued twice", dot)
			}
			g.mu.Lock()
			persisted := g.lease.Reserved
			g.mu.Unlock()
			if dot.Counter > persisted {
				t.Fatalf("dot %v issued beyond the persisted lease %d", dot, persisted)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refill never persisted the next lease")
		}
		time.Sleep(time.Millisecond) // polling for the refill
	}
}

// TestDotIssuer_refill_renewWins: a refill never overwrites the lease of a
// renewed actor with the old actor's.
func TestDotIssuer_refill_renewWins(t *testing.T) {
	g := &gatedStore{gate: make(chan struct{})}
	close(g.gate)
	d, err := OpenDotIssuer(g, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.StartRefill()
	defer d.Close()
	for i := 0; i < 100; i++ {
		if _, err := d.Next(); err != nil && !errors.Is(err, ErrLeaseExhausted) {
			t.Fatal(err)
		}
		if i == 50 {
			if err := d.RenewActor(); err != nil {
				t.Fatal(err)
			}
		}
	}
	d.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lease.Actor != d.Actor() {
		t.Fatalf("persisted lease of actor %v, current actor %v", g.lease.Actor, d.Actor())
	}
}
