package conflict_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/quorumkv/quorumkv/conflict"
)

func TestOpenDotIssuer_newStore(t *testing.T) {
	store := &memLeaseStore{}
	// A zero id is skipped.
	d, err := conflict.OpenDotIssuer(store, 10, actors(0, 0x1234))
	if err != nil {
		t.Fatal(err)
	}
	if d.Actor() != 0x1234 {
		t.Fatalf("actor %v, want 1234", d.Actor())
	}
	if l := store.get(); l != (conflict.Lease{Actor: 0x1234, Reserved: 10}) {
		t.Fatalf("lease %+v, want {1234 10} persisted before any dot", l)
	}
	for i := uint64(1); i <= 25; i++ {
		dot, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if dot != dt(0x1234, i) {
			t.Fatalf("dot %v, want %v", dot, dt(0x1234, i))
		}
		if l := store.get(); l.Reserved < i {
			t.Fatalf("dot %v issued before its lease %+v was saved", dot, l)
		}
	}
	if store.saves != 3 {
		t.Fatalf("%d leases saved for 25 dots of 10 per lease, want 3", store.saves)
	}
}

func TestOpenDotIssuer_defaults(t *testing.T) {
	store := &memLeaseStore{}
	d, err := conflict.OpenDotIssuer(store, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Actor() == 0 {
		t.Fatal("zero actor")
	}
	if l := store.get(); l.Reserved != conflict.DefaultLeaseSize {
		t.Fatalf("lease %+v, want %d reserved", l, conflict.DefaultLeaseSize)
	}
}

func TestOpenDotIssuer_errors(t *testing.T) {
	errDisk := errors.New("disk on fire")
	tests := map[string]struct {
		store  *memLeaseStore
		random *actorReader
		want   error
	}{
		"saveFailsOnNewStore": {store: &memLeaseStore{failWith: errDisk}, random: actors(1), want: errDisk},
		"saveFailsOnReopen": {
			store:  &memLeaseStore{lease: conflict.Lease{Actor: 7, Reserved: 3}, ok: true, failWith: errDisk},
			random: actors(1),
			want:   errDisk,
		},
		"randomFails": {store: &memLeaseStore{}, random: actors(), want: errNoMoreActors},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := conflict.OpenDotIssuer(tc.store, 4, tc.random)
			if !errors.Is(err, tc.want) {
				t.Fatalf("OpenDotIssuer = %v, want %v", err, tc.want)
			}
			if d != nil {
				t.Fatalf("got an issuer beside the error")
			}
		})
	}
}

// Property 7: an issuer reopened over the same store never repeats a dot,
// however many it issued before the crash.
func TestDotIssuer_Next_neverRepeatsAcrossCrashes(t *testing.T) {
	forEachSeed(t, func(t *testing.T, rng *rand.Rand) {
		store := &memLeaseStore{}
		leaseSize := uint64(1 + rng.IntN(5))
		seen := map[conflict.Dot]bool{}
		var actor conflict.ActorID
		for crash := range 20 {
			d, err := conflict.OpenDotIssuer(store, leaseSize, funcReader(rng.Uint64))
			if err != nil {
				t.Fatal(err)
			}
			if crash > 0 && d.Actor() != actor {
				t.Fatalf("reopening changed the actor from %v to %v", actor, d.Actor())
			}
			actor = d.Actor()
			for range rng.IntN(3 * int(leaseSize)) {
				dot, err := d.Next()
				if err != nil {
					t.Fatal(err)
				}
				if seen[dot] {
					t.Fatalf("dot %v issued twice (crash %d, lease size %d)", dot, crash, leaseSize)
				}
				seen[dot] = true
				if l := store.get(); l.Actor != dot.Actor || l.Reserved < dot.Counter {
					t.Fatalf("dot %v issued beyond the saved lease %+v", dot, l)
				}
			}
			// Crash: drop d without a word.
		}
	})
}

// Property 7: a failing SaveLease makes Next fail, and Next recovers without
// repeating once the store works again.
func TestDotIssuer_Next_saveFails(t *testing.T) {
	errDisk := errors.New("disk full")
	store := &memLeaseStore{}
	d, err := conflict.OpenDotIssuer(store, 2, actors(0xa))
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 2; i++ {
		if dot, err := d.Next(); err != nil || dot != dt(0xa, i) {
			t.Fatalf("Next = %v, %v", dot, err)
		}
	}
	store.setFail(errDisk)
	for range 2 {
		if dot, err := d.Next(); !errors.Is(err, errDisk) {
			t.Fatalf("Next with a failing store = %v, %v; want %v", dot, err, errDisk)
		}
	}
	store.setFail(nil)
	if dot, err := d.Next(); err != nil || dot != dt(0xa, 3) {
		t.Fatalf("Next after the store healed = %v, %v; want a:3", dot, err)
	}
}

func TestDotIssuer_RenewActor(t *testing.T) {
	errDisk := errors.New("disk full")
	store := &memLeaseStore{}
	d, err := conflict.OpenDotIssuer(store, 4, actors(0xa, 0xb, 0xc))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.RenewActor(); err != nil {
		t.Fatal(err)
	}
	if d.Actor() != 0xb {
		t.Fatalf("actor %v after RenewActor, want b", d.Actor())
	}
	if dot, err := d.Next(); err != nil || dot != dt(0xb, 1) {
		t.Fatalf("first dot of the new actor = %v, %v; want b:1", dot, err)
	}
	if l := store.get(); l.Actor != 0xb {
		t.Fatalf("lease %+v not renewed", l)
	}
	store.setFail(errDisk)
	if err := d.RenewActor(); !errors.Is(err, errDisk) {
		t.Fatalf("RenewActor with a failing store = %v", err)
	}
	if _, err := d.Next(); !errors.Is(err, errDisk) {
		t.Fatalf("Next after a failed RenewActor = %v: it must not issue unreserved dots", err)
	}
	store.setFail(nil)
	if dot, err := d.Next(); err != nil || dot.Actor != 0xc {
		t.Fatalf("Next after the store healed = %v, %v", dot, err)
	}
	if err := d.RenewActor(); !errors.Is(err, errNoMoreActors) {
		t.Fatalf("RenewActor without randomness = %v", err)
	}
}

// Property 7, KV679: a replica wiped and restarted under its old actor with
// its counter reset reissues a dot that lives on elsewhere, and a write is
// lost. Renewing the actor loses nothing.
func TestDotIssuer_reusedDotLosesWrite(t *testing.T) {
	p := conflict.Siblings
	const a = conflict.ActorID(0xa)
	tests := map[string]struct {
		renew bool
		// writes is how many blind writes the restarted replica makes; the
		// later replaces the earlier locally.
		writes int
		// want is what B ⊔ restarted A holds.
		want []string
	}{
		"reused/oneWrite":   {writes: 1, want: []string{"v2"}}, // v1 lost: same dot, one content wins
		"reused/twoWrites":  {writes: 2, want: []string{"v3"}}, // v1 lost: a:1 looks seen by a:2
		"renewed/oneWrite":  {renew: true, writes: 1, want: []string{"v1", "v2"}},
		"renewed/twoWrites": {renew: true, writes: 2, want: []string{"v1", "v3"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			storeA := &memLeaseStore{}
			issA, err := conflict.OpenDotIssuer(storeA, 16, actors(uint64(a)))
			if err != nil {
				t.Fatal(err)
			}
			d1, err := issA.Next()
			if err != nil || d1 != dt(a, 1) {
				t.Fatalf("first dot %v, %v", d1, err)
			}
			objA := put(p, &conflict.Object{}, d1, 10, "v1", conflict.Context{})
			objB := conflict.Merge(p, &conflict.Object{}, objA) // replicated to B

			// A's data directory is wiped; it restarts under the same actor
			// with the counter reset.
			wiped := &memLeaseStore{lease: conflict.Lease{Actor: a, Reserved: 0}, ok: true}
			issA2, err := conflict.OpenDotIssuer(wiped, 16, actors(0xa2))
			if err != nil {
				t.Fatal(err)
			}
			if tc.renew {
				if err := issA2.RenewActor(); err != nil {
					t.Fatal(err)
				}
			}
			objA2 := &conflict.Object{}
			for i := range tc.writes {
				d, err := issA2.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !tc.renew && d != dt(a, uint64(i+1)) {
					t.Fatalf("the restarted issuer minted %v, want the reused a:%d", d, i+1)
				}
				if tc.renew && d.Actor == a {
					t.Fatalf("RenewActor kept actor %v", a)
				}
				objA2.Put(p, d, ts(int64(20+i)), []byte("v"+string(rune('2'+i))), objA2.Reg.Ctx.Clone())
			}
			got := conflict.Merge(p, objB, objA2)
			if !sameStrings(got.Values(), tc.want...) {
				t.Fatalf("B ⊔ A' = %q, want %q\n  %s", strs(got.Values()), tc.want, dump(got))
			}
			if !tc.renew && len(got.Values()) == 2 {
				t.Fatalf("no data loss with a reused dot: the scenario is void")
			}
		})
	}
}

func TestNewActorID(t *testing.T) {
	a, err := conflict.NewActorID(actors(0, 0, 42))
	if err != nil || a != 42 {
		t.Fatalf("NewActorID = %v, %v; want 42 after skipping zeros", a, err)
	}
	if _, err := conflict.NewActorID(actors(0)); !errors.Is(err, errNoMoreActors) {
		t.Fatalf("NewActorID with a failing reader = %v", err)
	}
	if s := conflict.ActorID(0xab).String(); s != "00000000000000ab" {
		t.Fatalf("String() = %q", s)
	}
}
