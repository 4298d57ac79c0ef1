package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/internal/lograte"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

// Config holds the coordinator's settings.
type Config struct {
	// NodeID names this node in receipts and on the ring. Required.
	NodeID string
	// MaxSiblings bounds the siblings a put may leave under the siblings
	// policy (--max-siblings). Required, at least 1: zero is refused.
	MaxSiblings int
	// Limits bounds keys and values. Required: the zero Limits (no key
	// fits) is refused.
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
	// ReadRepairChance is the probability that a ONE read is followed by a
	// background check and repair of the replicas it did not ask. Zero
	// means DefaultReadRepairChance; a negative value means never.
	ReadRepairChance float64
	// Rand returns uniform numbers in [0, 1) for ReadRepairChance; nil
	// means math/rand/v2's Float64.
	Rand func() float64
	// Clock is the wall clock of hint timestamps and of the hint window;
	// the node gives the one its HLC reads. Nil means the real clock.
	Clock Clock
	// MaxHintBytes bounds the bytes of the hints held for one target: a
	// write that would take it past the budget leaves no hint (counted in
	// HintStats.OverBudget; anti-entropy repairs the target). Zero means
	// DefaultMaxHintBytes; negative means no bound.
	MaxHintBytes int64
	// Logger receives the coordinator's log lines; nil discards them.
	Logger *slog.Logger
	// Fence, checked under the key's lock just before a write is stamped,
	// refuses writes while this node's clock is too far from its peers'
	// (a *ClockFencedError), and is told of every replica that refuses
	// a timestamp this node stamped. Nil: the node is never fenced.
	Fence *ClockFence
	// OnFatal is called once, on a goroutine the coordinator owns, with
	// the first error matching storage.ErrFatal that the coordinator's own
	// durable write of a client write returns (its log write or fsync
	// failed): the node must stop. It must not block on the coordinator.
	// From then on the coordinator refuses writes. Nil: the error is
	// logged and writes are refused.
	OnFatal func(err error)

	// TestNoBlockingRepair (tests and chaos only) answers QUORUM and ALL
	// reads without blocking read repair, breaking freshness on purpose.
	TestNoBlockingRepair bool
	// TestNoHints (tests and chaos only) writes no hints.
	TestNoHints bool
}

// Coordinator defaults.
const (
	// DefaultReadRepairChance is the share of ONE reads followed by a
	// background read repair (--read-repair-chance).
	DefaultReadRepairChance = 0.1
	DefaultMaxSiblings      = 100
	DefaultMaxHintWindow    = 3 * time.Hour
	// DefaultMaxHintBytes is the hint budget of one target.
	DefaultMaxHintBytes     = 256 << 20
	defaultReplicaTimeout   = 5 * time.Second
	defaultDeadlineMargin   = 20 * time.Millisecond
	defaultSpeculativeDelay = 100 * time.Millisecond
)

// DefaultConfig returns a configuration with every default set (DESIGN.md's
// --max-siblings, key and value limits and --max-hint-window); NodeID is
// left to the caller.
func DefaultConfig() Config {
	return Config{
		MaxSiblings:      DefaultMaxSiblings,
		Limits:           keyspace.DefaultLimits(),
		ReplicaTimeout:   defaultReplicaTimeout,
		DeadlineMargin:   defaultDeadlineMargin,
		SpeculativeDelay: defaultSpeculativeDelay,
		MaxHintWindow:    DefaultMaxHintWindow,
		ReadRepairChance: DefaultReadRepairChance,
	}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("coordinator: node id is empty")
	}
	if c.MaxSiblings < 1 {
		return fmt.Errorf("coordinator: max siblings is %d: must be at least 1", c.MaxSiblings)
	}
	if c.ReadRepairChance > 1 {
		return fmt.Errorf("coordinator: read repair chance is %v: must be at most 1", c.ReadRepairChance)
	}
	if c.ReplicaTimeout < 0 || c.DeadlineMargin < 0 || c.SpeculativeDelay < 0 || c.MaxHintWindow < 0 {
		return errors.New("coordinator: timeouts, margins and the hint window must not be negative")
	}
	return c.Limits.Validate()
}

func (c Config) withDefaults() Config {
	if c.ReplicaTimeout == 0 {
		c.ReplicaTimeout = defaultReplicaTimeout
	}
	if c.DeadlineMargin == 0 {
		c.DeadlineMargin = defaultDeadlineMargin
	}
	if c.SpeculativeDelay == 0 {
		c.SpeculativeDelay = defaultSpeculativeDelay
	}
	if c.MaxHintWindow == 0 {
		c.MaxHintWindow = DefaultMaxHintWindow
	}
	if c.ReadRepairChance == 0 {
		c.ReadRepairChance = DefaultReadRepairChance
	}
	if c.MaxHintBytes == 0 {
		c.MaxHintBytes = DefaultMaxHintBytes
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
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
	// Stage replaces the object under key with fn's result, under the
	// key's serialization, and returns what is stored before it is
	// durable, with wait, which returns nil once it is, or the error that
	// kept it from being so (matching storage.ErrFatal when the log write
	// or fsync failed). Until then only later writes of the same key (Stage
	// and Merge) build on it; no read sees it. fn receives nil when the key
	// is absent, must not keep or change cur, may run more than once, and
	// aborts the write by returning an error, which Stage returns wrapped.
	// wait may be called from any goroutine; the coordinator calls it on a
	// goroutine of its own, which its Close waits for. The coordinator's
	// client writes all go through Stage. See storage.Engine.Stage.
	Stage(key []byte, fn func(cur *conflict.Object) (*conflict.Object, error)) (obj *conflict.Object, wait func() error, err error)
	// Merge merges obj into the copy of key durably and returns the result.
	Merge(key []byte, obj *conflict.Object) (*conflict.Object, error)
}

// HintStore keeps hints for replicas that missed a write.
// storage.Engine implements it.
type HintStore interface {
	AddHint(target string, key []byte, obj *conflict.Object, created time.Time) error
	// HintsAfter returns up to limit hints for target after the hint of
	// key after (from the first when nil), in key order.
	HintsAfter(target string, after []byte, limit int) ([]storage.Hint, error)
	// HintBytes returns the bytes target's hints take.
	HintBytes(target string) (int64, error)
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
	hintBytes   hintBudget
	repairCount repairCounters
	logLimit    *lograte.Limiter // repeated lines about a peer
	// fatal holds the error writes are refused with once the node's own
	// durable write failed fatally; localFailures counts every failed one
	// (fatal.go).
	fatal         atomic.Pointer[error]
	localFailures atomic.Int64
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
	c.logLimit = lograte.New(lograte.DefaultInterval, c.cfg.Clock.Now)
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

// stamp mints a dot and a timestamp above above and above everything in
// cur. A timestamp beyond the local wall clock + max offset (one a fast
// node stamped, stored or carried by a token) does not lift the stamp: the
// write is stamped at the local clock, never above it, and supersedes it by
// its causal context (DESIGN.md, Clocks), so a stored timestamp from a
// fast clock never blocks later writes.
func (c *Coordinator) stamp(cur *conflict.Object, above conflict.Timestamp) (conflict.Dot, conflict.Timestamp, error) {
	if c.cfg.Fence != nil {
		if err := c.cfg.Fence.Check(); err != nil {
			return conflict.Dot{}, conflict.Timestamp{}, err
		}
	}
	if cur != nil {
		if m := cur.MaxTimestamp(); above.Less(m) {
			above = m
		}
	}
	if err := c.clock.Update(above); err != nil && !errors.Is(err, conflict.ErrClockOffset) {
		return conflict.Dot{}, conflict.Timestamp{}, err
	}
	// Now is above every timestamp the clock accepted (its logical counter
	// carries into the wall part when full, never wraps).
	ts := c.clock.Now()
	if c.clock.Beyond(ts) {
		// The wall clock ran ahead and was set back: the hybrid clock,
		// which never runs backwards, still reads beyond what peers
		// accept. Another replica stamps the write instead.
		return conflict.Dot{}, conflict.Timestamp{}, &ClockFencedError{Node: c.cfg.NodeID,
			Reason: fmt.Sprintf("its hybrid clock reads %v, beyond its wall clock + --max-clock-offset (the wall clock was set back); it stamps again once the wall clock catches up", ts.Time().UTC().Format(time.RFC3339Nano))}
	}
	dot, err := c.dots.Next()
	return dot, ts, err
}

// beyondOffset reports whether cur holds a timestamp beyond the local wall
// clock + max offset: one a fast node stamped.
func (c *Coordinator) beyondOffset(cur *conflict.Object) bool {
	return cur != nil && c.clock.Beyond(cur.MaxTimestamp())
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

// refusedForClock reports whether a replica refused a write because its
// timestamp is beyond the replica's clock + max offset.
func refusedForClock(err error) bool {
	return errors.Is(err, conflict.ErrClockOffset) && !indeterminate(err)
}

// ownClockRefused reports whether err is replica id's refusal of a
// timestamp this node stamped (or carries) because this node's clock runs
// ahead: such a write is not acknowledged, gets no hint and is not
// retried, and the node is fenced at once. A refusal by a replica the
// fence knows to run behind the others is that replica's failure alone.
func (c *Coordinator) ownClockRefused(id string, err error) bool {
	if !refusedForClock(err) {
		return false
	}
	if c.cfg.Fence == nil {
		return true
	}
	return c.cfg.Fence.Refused(id)
}

// indeterminate reports whether a failed replica write may have been applied.
func indeterminate(err error) bool {
	return errors.Is(err, ErrIndeterminate) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
