package conflict

import (
	"crypto/rand"
	"encoding/binary"
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

// DotIssuer mints dots for one node: counters per actor, node-wide,
// reserved in leases persisted before use, so a dot is never issued twice,
// even across crashes. It is safe for concurrent use.
type DotIssuer struct {
	store     LeaseStore
	leaseSize uint64
	rand      io.Reader

	mu       sync.Mutex
	actor    ActorID
	next     uint64 // the counter Next hands out
	reserved uint64 // the highest counter persisted as reserved
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
	d := &DotIssuer{store: store, leaseSize: leaseSize, rand: random}
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
	d.mu.Lock()
	defer d.mu.Unlock()
	d.actor, d.next, d.reserved = a, 1, 0
	return d.reserve()
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

// Next returns a dot never issued before by this actor.
func (d *DotIssuer) Next() (Dot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.next > d.reserved {
		if err := d.reserve(); err != nil {
			return Dot{}, err
		}
	}
	dot := Dot{Actor: d.actor, Counter: d.next}
	d.next++
	return dot, nil
}

// Actor returns the current actor.
func (d *DotIssuer) Actor() ActorID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.actor
}
