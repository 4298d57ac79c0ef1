package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	"github.com/quorumkv/quorumkv/storage"
)

// Config holds the coordinator's settings.
type Config struct {
	// NodeID names this node in receipts. Required.
	NodeID string
	// Policy is the cluster's conflict policy. Required.
	Policy conflict.Policy
	// MaxSiblings bounds the siblings a put may leave under the siblings
	// policy; at least 1.
	MaxSiblings int
	// Limits bounds keys and values.
	Limits keyspace.Limits
	// Joined reports whether the node has joined a cluster; until then it
	// serves ONE only. Nil means joined.
	Joined func() bool
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("coordinator: node id is empty")
	}
	if c.Policy != conflict.LWW && c.Policy != conflict.Siblings {
		return fmt.Errorf("coordinator: unknown conflict policy %d", c.Policy)
	}
	if c.MaxSiblings < 1 {
		return fmt.Errorf("coordinator: max siblings is %d: must be at least 1", c.MaxSiblings)
	}
	return c.Limits.Validate()
}

// Coordinator serves the data requests of one node.
type Coordinator struct {
	cfg   Config
	store Store
	dots  *conflict.DotIssuer
	clock *conflict.Clock
	keys  *conflict.Keyring
}

// NewCoordinator returns a coordinator over the node's store, dot issuer,
// clock and token keyring.
func NewCoordinator(cfg Config, store Store, dots *conflict.DotIssuer, clock *conflict.Clock, keys *conflict.Keyring) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Coordinator{cfg: cfg, store: store, dots: dots, clock: clock, keys: keys}, nil
}

// ReadResult is what a read returns.
type ReadResult struct {
	// Found reports a live value (Get) or member (SetMembers).
	Found bool
	// Values are the live register values, siblings in dot order.
	Values [][]byte
	// Members are the set members in bytewise order.
	Members [][]byte
	// Token is the context token of the read, also when nothing was found.
	Token []byte
	Receipt Receipt
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

func (c *Coordinator) check(key []byte, level Level) error {
	if err := c.cfg.Limits.CheckKey(key); err != nil {
		return invalidArgument{err}
	}
	if level < One || level > All {
		return invalid("unknown consistency level %d: use one, quorum or all", level)
	}
	if level != One && c.cfg.Joined != nil && !c.cfg.Joined() {
		return fmt.Errorf("%s: %w: no seed in --join answered; only ONE is served", level, ErrNotJoined)
	}
	return nil
}

// receipt returns the receipt of a request answered by this node alone, the
// only replica of every key in a cluster of one.
func (c *Coordinator) receipt(level Level, write bool) Receipt {
	r := Receipt{Coordinator: c.cfg.NodeID, Level: level, Required: level.Required(1), Acknowledged: []string{c.cfg.NodeID}}
	if write {
		r.Applied = AppliedAll
	}
	return r
}

// failedReceipt is the receipt of a write refused before it was applied.
func (c *Coordinator) failedReceipt(level Level) Receipt {
	return Receipt{Coordinator: c.cfg.NodeID, Level: level, Required: level.Required(1), Applied: AppliedNone}
}

// read returns the local object under key, nil when absent.
func (c *Coordinator) read(key []byte) (*conflict.Object, error) {
	o, err := c.store.Get(key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return o, err
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

// write applies fn to the local copy durably.
func (c *Coordinator) write(key []byte, level Level, fn func(cur *conflict.Object) (*conflict.Object, error)) (Receipt, error) {
	if _, err := c.store.Update(key, fn); err != nil {
		return c.failedReceipt(level), err
	}
	return c.receipt(level, true), nil
}

// Get reads the register under key.
func (c *Coordinator) Get(ctx context.Context, key []byte, level Level) (ReadResult, error) {
	if err := c.check(key, level); err != nil {
		return ReadResult{Receipt: c.failedReceipt(level)}, err
	}
	o, err := c.read(key)
	if err != nil {
		return ReadResult{Receipt: c.failedReceipt(level)}, err
	}
	res := ReadResult{Receipt: c.receipt(level, false), Token: c.keys.Seal(key, conflict.ReadToken(o))}
	if o == nil {
		return res, nil
	}
	switch o.Kind() {
	case conflict.KindSet:
		return res, wrongType{conflict.KindSet}
	case conflict.KindRegister:
		res.Found, res.Values = true, o.Values()
	}
	return res, nil
}

// Put writes value under key. token, when not empty, is the context of an
// earlier read: the write replaces what that read saw and is stamped above
// it. Without a token the write is blind: concurrent with what is there.
func (c *Coordinator) Put(ctx context.Context, key, value, token []byte, level Level) (Receipt, error) {
	if err := c.check(key, level); err != nil {
		return c.failedReceipt(level), err
	}
	if err := c.cfg.Limits.CheckValue(value); err != nil {
		return c.failedReceipt(level), invalidArgument{err}
	}
	var st conflict.TokenState
	if len(token) > 0 {
		var err error
		if st, err = c.keys.Open(key, token); err != nil {
			return c.failedReceipt(level), invalidArgument{err}
		}
		if err := c.clock.Update(st.MaxTS); err != nil {
			return c.failedReceipt(level), invalid("context token: %w", err)
		}
	}
	return c.write(key, level, func(cur *conflict.Object) (*conflict.Object, error) {
		o := &conflict.Object{}
		if cur != nil {
			if cur.Kind() == conflict.KindSet {
				return nil, wrongType{conflict.KindSet}
			}
			o = cur.Clone()
		}
		dot, ts, err := c.stamp(cur, st.MaxTS)
		if err != nil {
			return nil, err
		}
		o.Put(c.cfg.Policy, dot, ts, value, st.Ctx)
		if n := len(o.Reg.Siblings); c.cfg.Policy == conflict.Siblings && n > c.cfg.MaxSiblings {
			return nil, fmt.Errorf("%w: the put would leave %d siblings, the limit is %d (--max-siblings); get the key and put with its --context to resolve them",
				ErrTooManySiblings, n, c.cfg.MaxSiblings)
		}
		return o, nil
	})
}

// Delete reads key at level and writes a tombstone with what it read, so it
// removes exactly what the read saw, of either type.
func (c *Coordinator) Delete(ctx context.Context, key []byte, level Level) (Receipt, error) {
	if err := c.check(key, level); err != nil {
		return c.failedReceipt(level), err
	}
	seen, err := c.read(key)
	if err != nil {
		return c.failedReceipt(level), err
	}
	if seen == nil {
		seen = &conflict.Object{}
	}
	return c.write(key, level, func(cur *conflict.Object) (*conflict.Object, error) {
		if cur == nil {
			cur = &conflict.Object{}
		}
		// What the read saw is merged first, so every set add it saw is here
		// to be removed (conflict.Object.Delete).
		o := conflict.Merge(c.cfg.Policy, cur, seen)
		dot, ts, err := c.stamp(cur, seen.MaxTimestamp())
		if err != nil {
			return nil, err
		}
		o.Delete(c.cfg.Policy, dot, ts, seen.Reg.Ctx, seen.Set.Ctx)
		return o, nil
	})
}

func (c *Coordinator) checkMembers(members [][]byte) error {
	if len(members) == 0 {
		return invalid("no members given: name at least one")
	}
	for _, m := range members {
		if err := c.cfg.Limits.CheckValue(m); err != nil {
			return invalid("member: %w", err)
		}
	}
	return nil
}

// SetAdd adds members to the set under key.
func (c *Coordinator) SetAdd(ctx context.Context, key []byte, members [][]byte, level Level) (Receipt, error) {
	if err := c.check(key, level); err != nil {
		return c.failedReceipt(level), err
	}
	if err := c.checkMembers(members); err != nil {
		return c.failedReceipt(level), err
	}
	return c.write(key, level, func(cur *conflict.Object) (*conflict.Object, error) {
		o := &conflict.Object{}
		if cur != nil {
			if cur.Kind() == conflict.KindRegister {
				return nil, wrongType{conflict.KindRegister}
			}
			o = cur.Clone()
		}
		dot, ts, err := c.stamp(cur, conflict.Timestamp{})
		if err != nil {
			return nil, err
		}
		o.SetAdd(dot, ts, members)
		return o, nil
	})
}

// SetRemove reads key at level and removes, of each member, the adds that
// read saw.
func (c *Coordinator) SetRemove(ctx context.Context, key []byte, members [][]byte, level Level) (Receipt, error) {
	if err := c.check(key, level); err != nil {
		return c.failedReceipt(level), err
	}
	if err := c.checkMembers(members); err != nil {
		return c.failedReceipt(level), err
	}
	seen, err := c.read(key)
	if err != nil {
		return c.failedReceipt(level), err
	}
	if seen == nil {
		return c.receipt(level, true), nil
	}
	if seen.Kind() == conflict.KindRegister {
		return c.failedReceipt(level), wrongType{conflict.KindRegister}
	}
	return c.write(key, level, func(cur *conflict.Object) (*conflict.Object, error) {
		if cur == nil {
			cur = &conflict.Object{}
		}
		if cur.Kind() == conflict.KindRegister {
			return nil, wrongType{conflict.KindRegister}
		}
		// What the read saw is merged first, so every add it saw is here to
		// be removed (conflict.Object.SetRemove).
		o := conflict.Merge(c.cfg.Policy, cur, seen)
		o.SetRemove(members, seen.Set.Ctx)
		return o, nil
	})
}

// SetMembers reads the set under key.
func (c *Coordinator) SetMembers(ctx context.Context, key []byte, level Level) (ReadResult, error) {
	if err := c.check(key, level); err != nil {
		return ReadResult{Receipt: c.failedReceipt(level)}, err
	}
	o, err := c.read(key)
	if err != nil {
		return ReadResult{Receipt: c.failedReceipt(level)}, err
	}
	res := ReadResult{Receipt: c.receipt(level, false)}
	if o == nil {
		return res, nil
	}
	switch o.Kind() {
	case conflict.KindRegister:
		return res, wrongType{conflict.KindRegister}
	case conflict.KindSet:
		res.Found, res.Members = true, o.Members()
	}
	return res, nil
}
