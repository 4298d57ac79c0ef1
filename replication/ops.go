package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
)

// ReadResult is what a read returns.
type ReadResult struct {
	// Found reports a live value (Get) or member (SetMembers).
	Found bool
	// Values are the live register values, siblings in dot order.
	Values [][]byte
	// Members are the set members in bytewise order.
	Members [][]byte
	// Token is the context token of the read, also when nothing was found.
	Token   []byte
	Receipt Receipt
}

// Get reads the register under key at level.
func (c *Coordinator) Get(ctx context.Context, key []byte, level Level) (ReadResult, error) {
	pl, err := c.check(key, level)
	if err != nil {
		return ReadResult{Receipt: c.failedReceipt(level, pl, false)}, err
	}
	out, err := c.readQuorum(ctx, key, level, pl)
	res := ReadResult{Receipt: out.receipt}
	if err != nil {
		return res, err
	}
	res.Token = c.cluster.Load().Keys.Seal(key, conflict.ReadToken(out.obj))
	if out.obj == nil {
		return res, nil
	}
	switch out.obj.Kind() {
	case conflict.KindSet:
		return res, wrongType{conflict.KindSet}
	case conflict.KindRegister:
		res.Found, res.Values = true, out.obj.Values()
	}
	return res, nil
}

// SetMembers reads the set under key at level.
func (c *Coordinator) SetMembers(ctx context.Context, key []byte, level Level) (ReadResult, error) {
	pl, err := c.check(key, level)
	if err != nil {
		return ReadResult{Receipt: c.failedReceipt(level, pl, false)}, err
	}
	out, err := c.readQuorum(ctx, key, level, pl)
	res := ReadResult{Receipt: out.receipt}
	if err != nil || out.obj == nil {
		return res, err
	}
	switch out.obj.Kind() {
	case conflict.KindRegister:
		return res, wrongType{conflict.KindRegister}
	case conflict.KindSet:
		res.Found, res.Members = true, out.obj.Members()
	}
	return res, nil
}

// Put writes value under key at level. token, when not empty, is the
// context of an earlier read: the write replaces what that read saw and is
// stamped above it. Without a token the write is blind: concurrent with
// what is there.
func (c *Coordinator) Put(ctx context.Context, key, value, token []byte, level Level) (Receipt, error) {
	pl, err := c.check(key, level)
	if err != nil {
		return c.failedReceipt(level, pl, true), err
	}
	if err := c.cfg.Limits.CheckValue(value); err != nil {
		return c.failedReceipt(level, pl, true), invalidArgument{err}
	}
	value = bytes.Clone(value) // the written object, sent after the answer, holds it
	cl := c.cluster.Load()
	var st conflict.TokenState
	if len(token) > 0 {
		if st, err = cl.Keys.Open(key, token); err != nil {
			return c.failedReceipt(level, pl, true), invalidArgument{err}
		}
		// A token beyond the clock offset (it read what a fast node
		// stamped) does not move the clock: the write is stamped at the
		// local clock and supersedes what the read saw by its context.
		if err := c.clock.Update(st.MaxTS); err != nil && !errors.Is(err, conflict.ErrClockOffset) {
			return c.failedReceipt(level, pl, true), invalid("context token: %w", err)
		}
	}
	return c.writeReplicated(ctx, key, level, pl, func(cur *conflict.Object) (*conflict.Object, error) {
		o := &conflict.Object{}
		if cur != nil {
			if cur.Kind() == conflict.KindSet {
				return nil, wrongType{conflict.KindSet}
			}
			o = cur.Clone()
		}
		ctx := st.Ctx
		if cl.Policy == conflict.LWW && c.beyondOffset(cur) {
			// Under lww a put replaces what the coordinator holds; stamped
			// at the local clock, below what a fast node stamped, it
			// replaces it by its context instead.
			ctx = ctx.Merge(cur.Reg.Ctx)
		}
		dot, ts, err := c.stamp(cur, st.MaxTS)
		if err != nil {
			return nil, err
		}
		o.Put(cl.Policy, dot, ts, value, ctx)
		if n := len(o.Reg.Siblings); cl.Policy == conflict.Siblings && n > c.cfg.MaxSiblings {
			return nil, fmt.Errorf("%w: the put would leave %d siblings, the limit is %d (--max-siblings); get the key and put with its --context to resolve them",
				ErrTooManySiblings, n, c.cfg.MaxSiblings)
		}
		return o, nil
	})
}

// Delete reads key at level and writes a tombstone with what it read, so it
// removes exactly what the read saw, of either type.
func (c *Coordinator) Delete(ctx context.Context, key []byte, level Level) (Receipt, error) {
	pl, err := c.check(key, level)
	if err != nil {
		return c.failedReceipt(level, pl, true), err
	}
	read, err := c.readQuorum(ctx, key, level, pl)
	if err != nil {
		read.receipt.Applied = AppliedNone
		return read.receipt, withOp(err, "delete")
	}
	seen := read.obj
	if seen == nil {
		seen = &conflict.Object{}
	}
	p := c.cluster.Load().Policy
	r, err := c.writeReplicated(ctx, key, level, pl, func(cur *conflict.Object) (*conflict.Object, error) {
		if cur == nil {
			cur = &conflict.Object{}
		}
		// What the read saw is merged first, so every set add it saw is here
		// to be removed (conflict.Object.Delete).
		o := conflict.Merge(p, cur, seen)
		dot, ts, err := c.stamp(o, seen.MaxTimestamp())
		if err != nil {
			return nil, err
		}
		o.Delete(p, dot, ts, seen.Reg.Ctx, seen.Set.Ctx)
		return o, nil
	})
	r.ReadRepair = read.repair
	return r, withOp(err, "delete")
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

// checkAddSize refuses a set add whose members together exceed the value
// limit: one request adds no more than one put writes (and a client
// request fits the client listener's message limit), whatever the object
// limit would allow.
func (c *Coordinator) checkAddSize(members [][]byte) error {
	total := 0
	for _, m := range members {
		total += len(m)
	}
	if total > c.cfg.Limits.MaxValueBytes {
		return invalid("members: %w: the members add up to %d bytes, the limit for one add is %d bytes (--max-value-bytes); add them in several requests",
			keyspace.ErrValueTooLarge, total, c.cfg.Limits.MaxValueBytes)
	}
	return nil
}

// SetAdd adds members to the set under key at level.
func (c *Coordinator) SetAdd(ctx context.Context, key []byte, members [][]byte, level Level) (Receipt, error) {
	pl, err := c.check(key, level)
	if err != nil {
		return c.failedReceipt(level, pl, true), err
	}
	if err := c.checkMembers(members); err != nil {
		return c.failedReceipt(level, pl, true), err
	}
	if err := c.checkAddSize(members); err != nil {
		return c.failedReceipt(level, pl, true), err
	}
	return c.writeReplicated(ctx, key, level, pl, func(cur *conflict.Object) (*conflict.Object, error) {
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
	pl, err := c.check(key, level)
	if err != nil {
		return c.failedReceipt(level, pl, true), err
	}
	if err := c.checkMembers(members); err != nil {
		return c.failedReceipt(level, pl, true), err
	}
	read, err := c.readQuorum(ctx, key, level, pl)
	if err != nil {
		read.receipt.Applied = AppliedNone
		return read.receipt, withOp(err, "srem")
	}
	seen := read.obj
	if seen == nil {
		r := read.receipt
		r.Applied = AppliedNone // nothing to remove: nothing written
		return r, nil
	}
	if seen.Kind() == conflict.KindRegister {
		return c.failedReceipt(level, pl, true), wrongType{conflict.KindRegister}
	}
	p := c.cluster.Load().Policy
	r, err := c.writeReplicated(ctx, key, level, pl, func(cur *conflict.Object) (*conflict.Object, error) {
		if cur == nil {
			cur = &conflict.Object{}
		}
		// What the read saw is merged first, so every add it saw is here to
		// be removed (conflict.Object.SetRemove).
		o := conflict.Merge(p, cur, seen)
		if o.Kind() == conflict.KindRegister {
			return nil, wrongType{conflict.KindRegister}
		}
		o.SetRemove(members, seen.Set.Ctx)
		return o, nil
	})
	r.ReadRepair = read.repair
	return r, withOp(err, "srem")
}
