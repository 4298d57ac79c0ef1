package conflict

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Lease is the persisted state of a node's dot issuing: its actor and the
// highest counter reserved for it. Counters up to Reserved may have been
// issued before a crash; none above.
type Lease struct {
	Actor    ActorID
	Reserved uint64
}

// LeaseStore persists the lease. Storage implements it.
type LeaseStore interface {
	// LoadLease returns the stored lease, or ok false when none was ever
	// stored (a new data directory).
	LoadLease() (l Lease, ok bool, err error)
	// SaveLease stores l durably (fsync'd) before it returns.
	SaveLease(l Lease) error
}

// DefaultLeaseSize is how many counters one lease reserves.
const DefaultLeaseSize = 4096

// ErrLeaseExhausted is returned by Next, with a background refill running,
// when every reserved counter is used and the next lease is not persisted
// yet; the write that asked may be retried.
var ErrLeaseExhausted = errors.New("dot lease exhausted: the next lease is being persisted, retry")

// DotIssuer mints dots for one node: counters per actor, node-wide,
// reserved in leases persisted before use, so a dot is never issued twice,
// even across crashes. It is safe for concurrent use.
//
// Next never blocks on storage once StartRefill has been called: the next
// lease is persisted in the background while half of the current one is
// left. That matters because a coordinator mints dots inside its storage
// transaction (so a key's dots apply in counter order), where waiting for
// another storage write would wait for itself.
type DotIssuer struct {
	store     LeaseStore
	leaseSize uint64
	rand      io.Reader

	// saveMu orders lease writes, so an older lease never overwrites a newer
	// one (a refill racing a renewal).
	saveMu sync.Mutex

	mu       sync.Mutex
	actor    ActorID
	next     uint64 // the counter Next hands out
	reserved uint64 // the highest counter persisted as reserved
	async    bool   // a refill goroutine persists leases

	refill chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

// OpenDotIssuer loads the lease from store, or creates a new random actor
// when there is none, and reserves a fresh lease above everything that may
// have been issued. leaseSize 0 means DefaultLeaseSize; random nil means
// crypto/rand.
func OpenDotIssuer(store LeaseStore, leaseSize uint64, random io.Reader) (*DotIssuer, error) {
	if leaseSize == 0 {
		leaseSize = DefaultLeaseSize
	}
	if random == nil {
		random = rand.Reader
	}
	d := &DotIssuer{store: store, leaseSize: leaseSize, rand: random, refill: make(chan struct{}, 1), stop: make(chan struct{})}
	l, ok, err := store.LoadLease()
	if err != nil {
		return nil, fmt.Errorf("load dot lease: %w", err)
	}
	if !ok || l.Actor == 0 {
		if err := d.RenewActor(); err != nil {
			return nil, err
		}
		return d, nil
	}
	d.actor, d.next, d.reserved = l.Actor, l.Reserved+1, l.Reserved
	if err := d.reserve(); err != nil {
		return nil, err
	}
	return d, nil
}

// NewActorID returns a random non-zero actor id read from random.
func NewActorID(random io.Reader) (ActorID, error) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(random, b[:]); err != nil {
			return 0, fmt.Errorf("new actor id: %w", err)
		}
		if a := ActorID(binary.BigEndian.Uint64(b[:])); a != 0 {
			return a, nil
		}
	}
}

// RenewActor replaces the actor with a new random one and restarts its
// counter. A node calls it when it detects that it lost state (an empty data
// directory under a known node id): dots it minted before may live on other
// replicas, and reusing them would lose writes (Riak's KV679).
func (d *DotIssuer) RenewActor() error {
	a, err := NewActorID(d.rand)
	if err != nil {
		return err
	}
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	d.actor, d.next, d.reserved = a, 1, 0
	l := Lease{Actor: a, Reserved: d.leaseSize}
	d.mu.Unlock()
	if err := d.store.SaveLease(l); err != nil {
		return fmt.Errorf("save dot lease: %w", err)
	}
	d.mu.Lock()
	if d.actor == a {
		d.reserved = max(d.reserved, l.Reserved)
	}
	d.mu.Unlock()
	return nil
}

// reserve persists a lease covering next .. next+leaseSize-1. d.mu is held
// or d is not yet shared.
func (d *DotIssuer) reserve() error {
	l := Lease{Actor: d.actor, Reserved: d.next + d.leaseSize - 1}
	if err := d.store.SaveLease(l); err != nil {
		return fmt.Errorf("save dot lease: %w", err)
	}
	d.reserved = l.Reserved
	return nil
}

// StartRefill starts the goroutine that persists leases ahead of use; from
// then on Next never blocks on storage. Close stops it. Idempotent.
func (d *DotIssuer) StartRefill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.async {
		return
	}
	d.async = true
	d.wg.Add(1)
	go d.refillLoop()
	d.signalLocked()
}

// Close stops the refill goroutine and waits for it. Idempotent.
func (d *DotIssuer) Close() {
	d.mu.Lock()
	started := d.async
	d.async = false
	d.mu.Unlock()
	if started {
		close(d.stop)
		d.wg.Wait()
	}
}

func (d *DotIssuer) signalLocked() {
	select {
	case d.refill <- struct{}{}:
	default:
	}
}

func (d *DotIssuer) refillLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.stop:
			return
		case <-d.refill:
		}
		d.persistAhead()
	}
}

// persistAhead persists a lease a full lease beyond what is used, when less
// than half of the current one is left.
func (d *DotIssuer) persistAhead() {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	if d.reserved >= d.next && d.reserved-d.next >= d.leaseSize/2 {
		d.mu.Unlock()
		return
	}
	l := Lease{Actor: d.actor, Reserved: max(d.reserved, d.next-1) + d.leaseSize}
	d.mu.Unlock()
	if err := d.store.SaveLease(l); err != nil {
		return // the next Next signals again
	}
	d.mu.Lock()
	if d.actor == l.Actor && l.Reserved > d.reserved {
		d.reserved = l.Reserved
	}
	d.mu.Unlock()
}

// Next returns a dot never issued before by this actor. With the refill
// running it never blocks on storage and returns ErrLeaseExhausted when the
// lease ran out before the next one was persisted.
func (d *DotIssuer) Next() (Dot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.next > d.reserved {
		if d.async {
			d.signalLocked()
			return Dot{}, ErrLeaseExhausted
		}
		if err := d.reserve(); err != nil {
			return Dot{}, err
		}
	}
	dot := Dot{Actor: d.actor, Counter: d.next}
	d.next++
	if d.async && (d.next > d.reserved || d.reserved-d.next < d.leaseSize/2) {
		d.signalLocked()
	}
	return dot, nil
}

// Actor returns the current actor.
func (d *DotIssuer) Actor() ActorID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.actor
}
