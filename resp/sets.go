package resp

import (
	"bytes"
	"context"
	"slices"

	"github.com/quorumkv/quorumkv/replication"
)

// distinct returns members without repeats.
func distinct(members [][]byte) [][]byte {
	out := slices.Clone(members)
	slices.SortFunc(out, bytes.Compare)
	return slices.CompactFunc(out, bytes.Equal)
}

// sadd adds the members and answers how many distinct members it was
// given: quorumkv's add does not read, so it cannot tell which were new.
func (c *conn) sadd(args [][]byte) string {
	members := distinct(args[2:])
	err := c.withCtx(func(ctx context.Context) error {
		_, err := c.s.cfg.Backend.SetAdd(ctx, args[1], members, c.write)
		return err
	})
	if err != nil {
		return c.fail(err)
	}
	c.wr.Int(len(members))
	return OutcomeOK
}

// srem removes the members (the backend reads first and removes the adds
// it saw) and answers how many of them its own read, at the write level,
// found in the set.
func (c *conn) srem(args [][]byte) string {
	members := distinct(args[2:])
	var present int
	err := c.withCtx(func(ctx context.Context) error {
		res, err := c.s.cfg.Backend.SetMembers(ctx, args[1], c.write)
		if err != nil {
			return err
		}
		for _, m := range members {
			if _, ok := slices.BinarySearchFunc(res.Members, m, bytes.Compare); ok {
				present++
			}
		}
		if present == 0 {
			return nil // nothing to remove: nothing written
		}
		_, err = c.s.cfg.Backend.SetRemove(ctx, args[1], members, c.write)
		return err
	})
	if err != nil {
		return c.fail(err)
	}
	c.wr.Int(present)
	return OutcomeOK
}

// members reads the set under key at the read level, sorted.
func (c *conn) members(key []byte) ([][]byte, error) {
	var res replication.ReadResult
	err := c.withCtx(func(ctx context.Context) error {
		var err error
		res, err = c.s.cfg.Backend.SetMembers(ctx, key, c.read)
		return err
	})
	return res.Members, err
}

func (c *conn) smembers(args [][]byte) string {
	ms, err := c.members(args[1])
	if err != nil {
		return c.fail(err)
	}
	c.wr.Set(len(ms))
	for _, m := range ms {
		c.wr.Bulk(m)
	}
	return OutcomeOK
}

func has(members [][]byte, m []byte) bool {
	_, ok := slices.BinarySearchFunc(members, m, bytes.Compare)
	return ok
}

func (c *conn) sismember(args [][]byte) string {
	ms, err := c.members(args[1])
	if err != nil {
		return c.fail(err)
	}
	c.wr.Int(b2i(has(ms, args[2])))
	return OutcomeOK
}

func (c *conn) smismember(args [][]byte) string {
	ms, err := c.members(args[1])
	if err != nil {
		return c.fail(err)
	}
	c.wr.Array(len(args) - 2)
	for _, m := range args[2:] {
		c.wr.Int(b2i(has(ms, m)))
	}
	return OutcomeOK
}

func (c *conn) scard(args [][]byte) string {
	ms, err := c.members(args[1])
	if err != nil {
		return c.fail(err)
	}
	c.wr.Int(len(ms))
	return OutcomeOK
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
