package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

// Config holds the coordinator's settings.
type Config struct {
	// NodeID names this node in receipts and on the ring. Required.
	NodeID string
	// MaxSiblings bounds the siblings a put may leave under the siblings
	// policy; at least 1.
	MaxSiblings int
	// Limits bounds keys and values.
	Limits keyspace.Limits
	// Joined reports whether the node has joined a cluster; until then it
	// refuses every read and write (a write taken before the join would
	// later be merged into a cluster that never acknowledged it). Nil
	// means joined.
	Joined func() bool
	// ReplicaTimeout bounds a replica write that continues after the client
	// was answered, and a background repair. Zero means 5s.
	ReplicaTimeout time.Duration
	// DeadlineMargin is how long before the client's deadline the
	// coordinator answers with what it has. Zero means 20ms.
	DeadlineMargin time.Duration
	// SpeculativeDelay is how long a read waits for a replica before it
	// also asks another. Zero means 100ms.
	SpeculativeDelay time.Duration
	// MaxHintWindow: a replica down longer than this gets no new hints.
	// Zero means 3h.
	MaxHintWindow time.Duration
	// DownSince reports since when a node has been down, ok false when it is
	// up or unknown. Nil: every node is up.
	DownSince func(id string) (since time.Time, ok bool)
	// Now is the time source of hint timestamps; nil means time.Now.
	Now func() time.Time
	// Logger receives the coordinator's log lines; nil discards them.
	Logger *slog.Logger

	// TestNoBlockingRepair (tests and chaos only) answers QUORUM and ALL
	// reads without blocking read repair, breaking freshness on purpose.
	TestNoBlockingRepair bool
	// TestNoHints (tests and chaos only) writes no hints.
	TestNoHints bool
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("coordinator: node id is empty")
	}
	if c.MaxSiblings < 1 {
		return fmt.Errorf("coordinator: max siblings is %d: must be at least 1", c.MaxSiblings)
	}
	return c.Limits.Validate()
}

func (c Config) withDefaults() Config {
	if c.ReplicaTimeout <= 0 {
		c.ReplicaTimeout = 5 * time.Second
	}
	if c.DeadlineMargin <= 0 {
		c.DeadlineMargin = 20 * time.Millisecond
	}
	if c.SpeculativeDelay <= 0 {
		c.SpeculativeDelay = 100 * time.Millisecond
	}
	if c.MaxHintWindow <= 0 {
		c.MaxHintWindow = 3 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Store is a replica's durable object store, as the coordinator uses it.
// storage.Engine implements it.
type Store interface {
	// Get returns the object stored under key, or an error that matches
	// storage.ErrNotFound. The caller owns the result.
	Get(key []byte) (*conflict.Object, error)
	// Update replaces the object under key with fn's result in one durable
	// transaction and returns what was stored; it returns only after the
	// transaction is fsync'd. fn receives nil when the key is absent, must
	// not keep or change cur, may run more than once, and aborts the update
	// by returning an error, which Update returns wrapped.
	Update(key []byte, fn func(cur *conflict.Object) (*conflict.Object, error)) (*conflict.Object, error)
	// Merge merges obj into the copy of key durably and returns the result.
	Merge(key []byte, obj *conflict.Object) (*conflict.Object, error)
}

// HintStore keeps hints for replicas that missed a write.
// storage.Engine implements it.
type HintStore interface {
	AddHint(target string, key []byte, obj *conflict.Object, created time.Time) error
	Hints(target string, limit int) ([]storage.Hint, error)
	DeleteHint(h storage.Hint) error
	DropHints(target string) (int, error)
}

// RingView gives the current ring. *ring.Holder implements it.
type RingView interface {
	Load() *ring.Ring
}

// Cluster is what the coordinator knows of its cluster: the conflict policy
// and the keyring of context tokens. It changes once, when a node that was
// not joined adopts its cluster's settings.
type Cluster struct {
	Policy conflict.Policy
	Keys   *conflict.Keyring
}

// Coordinator serves the data requests of one node: it coordinates the
// requests for keys the node replicates, applying writes to every replica
// and reading at the requested level.
type Coordinator struct {
	cfg       Config
	store     Store
	hints     HintStore
	dots      *conflict.DotIssuer
	clock     *conflict.Clock
	ring      RingView
	transport Transport
	cluster   atomic.Pointer[Cluster]

	// Background work (replica writes after the answer, ONE read repair,
	// hint delivery) runs on bg and is waited for by Close.
	bg       context.Context
	bgCancel context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex // orders wg.Add against Close
	closed   bool

	hintCount   hintCounters
	repairCount repairCounters
}

// NewCoordinator returns a coordinator. store, hints, dots, clock, ring and
// transport are the node's; the coordinator does not close them.
func NewCoordinator(cfg Config, cl Cluster, store Store, hints HintStore, dots *conflict.DotIssuer, clock *conflict.Clock,
	rv RingView, transport Transport) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cl.Policy != conflict.LWW && cl.Policy != conflict.Siblings {
		return nil, fmt.Errorf("coordinator: unknown conflict policy %d", cl.Policy)
	}
	c := &Coordinator{cfg: cfg.withDefaults(), store: store, hints: hints, dots: dots, clock: clock, ring: rv, transport: transport}
	c.cluster.Store(&cl)
	c.bg, c.bgCancel = context.WithCancel(context.Background())
	return c, nil
}

// SetCluster replaces the policy and keyring, when the node adopts its
// cluster's settings.
func (c *Coordinator) SetCluster(cl Cluster) { c.cluster.Store(&cl) }

// Close cancels the background work and waits for it. Requests still being
// served may fail. It is idempotent.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.bgCancel()
	c.wg.Wait()
	return nil
}

// errClosed fails the replica operations a closed coordinator no longer
// starts.
var errClosed = errors.New("coordinator closed")

// goBackground runs f on the background context, owned by the coordinator;
// once the coordinator is closed it runs nothing and returns false.
func (c *Coordinator) goBackground(f func(ctx context.Context)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f(c.bg)
	}()
	return true
}

// NotReplicaError is returned for a key this node does not replicate: the
// request belongs to one of Replicas.
type NotReplicaError struct {
	Key      []byte
	Replicas []string
}

func (e *NotReplicaError) Error() string {
	return fmt.Sprintf("node is not a replica of the key (its replicas: %v)", e.Replicas)
}

// placement is where a key lives on the current ring.
type placement struct {
	partition keyspace.Partition
	replicas  []string // current replicas, in preference order
	pending   []string // nodes the partition moves to: writes only
}

func (c *Coordinator) place(key []byte) placement {
	p := keyspace.PartitionOf(key)
	r := c.ring.Load()
	if r == nil {
		// Not joined: the node knows no ring and is its own only replica
		// (it serves nothing; see Config.Joined).
		return placement{partition: p, replicas: []string{c.cfg.NodeID}}
	}
	return placement{partition: p, replicas: r.Replicas(int(p)), pending: r.Pending(int(p))}
}

// IsReplica reports whether this node is a current replica of key; when it
// is not, the request should go to one of replicas.
func (c *Coordinator) IsReplica(key []byte) (ok bool, replicas []string) {
	pl := c.place(key)
	for _, id := range pl.replicas {
		if id == c.cfg.NodeID {
			return true, pl.replicas
		}
	}
	return false, pl.replicas
}

// invalidArgument is an error refusing a request; it matches
// ErrInvalidArgument and reads as its cause alone.
type invalidArgument struct{ err error }

func (e invalidArgument) Error() string        { return e.err.Error() }
func (e invalidArgument) Unwrap() []error      { return []error{ErrInvalidArgument, e.err} }
func invalid(format string, args ...any) error { return invalidArgument{fmt.Errorf(format, args...)} }

// wrongType is the refusal of a write or read of the other type.
type wrongType struct{ holds conflict.Kind }

func (e wrongType) Error() string        { return "key holds a " + e.holds.String() }
func (e wrongType) Is(target error) bool { return target == ErrWrongType }

// check validates what every data request carries and that the node may
// coordinate it.
func (c *Coordinator) check(key []byte, level Level) (placement, error) {
	if err := c.cfg.Limits.CheckKey(key); err != nil {
		return placement{}, invalidArgument{err}
	}
	if level < One || level > All {
		return placement{}, invalid("unknown consistency level %d: use one, quorum or all", level)
	}
	if c.cfg.Joined != nil && !c.cfg.Joined() {
		return placement{}, fmt.Errorf("%s: %w: no seed in --join has answered yet", level, ErrNotJoined)
	}
	pl := c.place(key)
	for _, id := range pl.replicas {
		if id == c.cfg.NodeID {
			return pl, nil
		}
	}
	return pl, &NotReplicaError{Key: key, Replicas: pl.replicas}
}

// failedReceipt is the receipt of a request refused before any replica
// was asked.
func (c *Coordinator) failedReceipt(level Level, pl placement, write bool) Receipt {
	r := Receipt{Coordinator: c.cfg.NodeID, Level: level, Required: level.Required(max(len(pl.replicas), 1)),
		Acknowledged: []string{}, Failed: []ReplicaFailure{}, Pending: []string{}}
	if write {
		r.Applied = AppliedNone
	}
	return r
}

// stamp mints a dot and a timestamp above above and above everything in cur.
func (c *Coordinator) stamp(cur *conflict.Object, above conflict.Timestamp) (conflict.Dot, conflict.Timestamp, error) {
	if cur != nil {
		if m := cur.MaxTimestamp(); above.Less(m) {
			above = m
		}
	}
	// What is stored was accepted earlier; a skew since then must not block
	// writes to the key, so the offset check is not applied here.
	if err := c.clock.Update(above); err != nil && !errors.Is(err, conflict.ErrClockOffset) {
		return conflict.Dot{}, conflict.Timestamp{}, err
	}
	ts := c.clock.Now()
	if !above.Less(ts) {
		ts = conflict.Timestamp{Wall: above.Wall, Logical: above.Logical + 1}
	}
	dot, err := c.dots.Next()
	return dot, ts, err
}

// answerBy returns the context a request answers within: the caller's
// deadline less the margin.
func (c *Coordinator) answerBy(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-c.cfg.DeadlineMargin))
	}
	return context.WithCancel(ctx)
}

// reason words a replica error for a receipt.
func reason(err error) string {
	var re *RemoteError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, ErrIndeterminate):
		return "reply lost"
	case errors.Is(err, ErrPeerUnreachable), errors.Is(err, ErrPeerUnknown), errors.Is(err, ErrTransportClosed):
		return "unreachable"
	case errors.Is(err, conflict.ErrClockOffset):
		return "clock offset"
	case errors.As(err, &re):
		return "error: " + re.Message
	}
	return "error: " + err.Error()
}

// indeterminate reports whether a failed replica write may have been applied.
func indeterminate(err error) bool {
	return errors.Is(err, ErrIndeterminate) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
