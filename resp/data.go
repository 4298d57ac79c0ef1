package resp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/quorumkv/quorumkv/replication"
)

// maxParallel bounds the backend calls one multi-key command runs at once.
const maxParallel = 32

// each runs f(0..n-1) on up to maxParallel goroutines and waits for all.
func each(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// fail writes the reply of a backend error and returns its outcome.
func (c *conn) fail(err error) string {
	msg, outcome := reply(err)
	c.wr.Error(msg)
	return outcome
}

// failKeys writes the reply of a multi-key command some of whose keys
// failed: a level not met names every key that did not meet it; any other
// error is the first key's.
func (c *conn) failKeys(name string, keys [][]byte, errs []error) string {
	var failed []string
	for i, err := range errs {
		if err == nil {
			continue
		}
		msg, outcome := reply(err)
		if outcome != OutcomeLevelNotMet {
			c.wr.Error(msg)
			return outcome
		}
		failed = append(failed, strconv.Quote(string(truncate(keys[i], 64)))+" ("+strings.TrimPrefix(msg, "QUORUM ")+")")
	}
	c.wr.Error("QUORUM " + strings.ToUpper(name) + ": " + itoa(len(failed)) + " of " + itoa(len(keys)) + " keys did not meet the level: " + strings.Join(failed, ", "))
	return OutcomeLevelNotMet
}

func anyErr(errs []error) bool {
	for _, err := range errs {
		if err != nil {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

// getAt runs a backend Get at level.
func (c *conn) getAt(key []byte, level replication.Level) (replication.ReadResult, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	return c.s.cfg.Backend.Get(ctx, key, level)
}

// value returns a key's one value: found false for none, errSiblings for
// more than one.
func (c *conn) value(key []byte) ([]byte, bool, error) {
	res, err := c.getAt(key, c.read)
	if err != nil || !res.Found {
		return nil, false, err
	}
	if len(res.Values) > 1 {
		return nil, false, errSiblings{len(res.Values)}
	}
	return res.Values[0], true, nil
}

func (c *conn) get(args [][]byte) string {
	v, found, err := c.value(args[1])
	switch {
	case err != nil:
		return c.fail(err)
	case !found:
		c.wr.Null()
	default:
		c.wr.Bulk(v)
	}
	return OutcomeOK
}

// setOptionError refuses what SET cannot do yet; "" for no options.
func setOptionError(opts [][]byte) string {
	for _, o := range opts {
		switch w := strings.ToUpper(string(o)); w {
		case "NX", "XX", "GET":
			return "ERR SET " + w + " needs compare-and-set, which quorumkv does not have yet"
		case "EX", "PX", "EXAT", "PXAT", "KEEPTTL":
			return "ERR SET " + w + ": quorumkv has no key expiry yet"
		}
	}
	if len(opts) > 0 {
		return "ERR syntax error"
	}
	return ""
}

func (c *conn) set(args [][]byte) string {
	if msg := setOptionError(args[3:]); msg != "" {
		c.wr.Error(msg)
		return OutcomeInvalid
	}
	if err := c.put(args[1], args[2]); err != nil {
		return c.fail(err)
	}
	c.wr.Simple("OK")
	return OutcomeOK
}

// put writes value under key at the write level. Under siblings it reads
// first and writes with that context, so it replaces what it read; under
// lww it is a blind write.
func (c *conn) put(key, value []byte) error {
	var token []byte
	if c.s.cfg.Conflict == "siblings" {
		res, err := c.getAt(key, c.write)
		if err != nil {
			return err
		}
		token = res.Token
	}
	ctx, cancel := c.ctx()
	defer cancel()
	_, err := c.s.cfg.Backend.Put(ctx, key, value, token, c.write)
	return err
}

func (c *conn) mget(args [][]byte) string {
	keys := args[1:]
	vals := make([][]byte, len(keys))
	errs := make([]error, len(keys))
	each(len(keys), func(i int) {
		v, found, err := c.value(keys[i])
		switch {
		case errors.Is(err, replication.ErrWrongType) || isWrongType(err):
			// Redis answers nil for a key of another type.
		case err != nil:
			errs[i] = err
		case found:
			vals[i] = v
		}
	})
	if anyErr(errs) {
		return c.failKeys("mget", keys, errs)
	}
	c.wr.Array(len(vals))
	for _, v := range vals {
		if v == nil {
			c.wr.Null()
		} else {
			c.wr.Bulk(v)
		}
	}
	return OutcomeOK
}

// isWrongType reports a forwarded wrong-type refusal.
func isWrongType(err error) bool {
	if err == nil {
		return false
	}
	_, outcome := reply(err)
	return outcome == OutcomeWrongType
}

func (c *conn) mset(args [][]byte) string {
	if len(args)%2 != 1 {
		c.wr.Error("ERR wrong number of arguments for 'mset' command")
		return OutcomeInvalid
	}
	n := (len(args) - 1) / 2
	keys := make([][]byte, n)
	errs := make([]error, n)
	each(n, func(i int) {
		keys[i] = args[1+2*i]
		errs[i] = c.put(args[1+2*i], args[2+2*i])
	})
	if anyErr(errs) {
		return c.failKeys("mset", keys, errs)
	}
	c.wr.Simple("OK")
	return OutcomeOK
}

// kind returns "string", "set" or "none" for key, read at level.
func (c *conn) kind(key []byte, level replication.Level) (string, error) {
	res, err := c.getAt(key, level)
	switch {
	case errors.Is(err, replication.ErrWrongType) || isWrongType(err):
		return "set", nil
	case err != nil:
		return "", err
	case res.Found:
		return "string", nil
	}
	return "none", nil
}

// del deletes each key the read (at the write level) finds, writing
// nothing for a key it finds absent, and answers how many it deleted.
func (c *conn) del(args [][]byte) string {
	keys := args[1:]
	deleted := make([]bool, len(keys))
	errs := make([]error, len(keys))
	each(len(keys), func(i int) {
		k, err := c.kind(keys[i], c.write)
		if err != nil || k == "none" {
			errs[i] = err
			return
		}
		ctx, cancel := c.ctx()
		defer cancel()
		_, errs[i] = c.s.cfg.Backend.Delete(ctx, keys[i], c.write)
		deleted[i] = errs[i] == nil
	})
	if anyErr(errs) {
		return c.failKeys("del", keys, errs)
	}
	c.wr.Int(countTrue(deleted))
	return OutcomeOK
}

func (c *conn) exists(args [][]byte) string {
	keys := args[1:]
	found := make([]bool, len(keys))
	errs := make([]error, len(keys))
	each(len(keys), func(i int) {
		k, err := c.kind(keys[i], c.read)
		found[i], errs[i] = k != "none" && err == nil, err
	})
	if anyErr(errs) {
		return c.failKeys("exists", keys, errs)
	}
	c.wr.Int(countTrue(found))
	return OutcomeOK
}

// countTrue counts the true values of bs.
func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func (c *conn) typeCmd(args [][]byte) string {
	k, err := c.kind(args[1], c.read)
	if err != nil {
		return c.fail(err)
	}
	c.wr.Simple(k)
	return OutcomeOK
}

// tokenEncoding spells context tokens as kvctl prints them.
var tokenEncoding = base64.RawURLEncoding

func (c *conn) qkvGet(args [][]byte) string {
	res, err := c.getAt(args[1], c.read)
	if err != nil {
		return c.fail(err)
	}
	c.wr.Array(2)
	c.wr.Array(len(res.Values))
	for _, v := range res.Values {
		c.wr.Bulk(v)
	}
	c.wr.BulkString(tokenEncoding.EncodeToString(res.Token))
	return OutcomeOK
}

func (c *conn) qkvPut(args [][]byte) string {
	token, err := tokenEncoding.DecodeString(string(bytes.TrimRight(args[3], "=")))
	if err != nil || len(token) == 0 {
		c.wr.Error("ERR context token: not a token of QKV.GET (unpadded base64url)")
		return OutcomeInvalid
	}
	ctx, cancel := c.ctx()
	defer cancel()
	if _, err := c.s.cfg.Backend.Put(ctx, args[1], args[2], token, c.write); err != nil {
		return c.fail(err)
	}
	c.wr.Simple("OK")
	return OutcomeOK
}

// withCtx runs f with a backend context.
func (c *conn) withCtx(f func(ctx context.Context) error) error {
	ctx, cancel := c.ctx()
	defer cancel()
	return f(ctx)
}
