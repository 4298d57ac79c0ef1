package resp

import (
	"bufio"
	"bytes"
	"sync"
)

// maxBatch bounds the pipelined commands a connection reads ahead of its
// replies.
const maxBatch = 64

// readBatch reads the next command, waiting for it, and the commands
// already on their way behind it (pipelined), at most maxBatch. The
// error, if any, ends the connection after the commands returned run.
func (c *conn) readBatch() ([][][]byte, error) {
	var batch [][][]byte
	for {
		args, err := c.rd.ReadCommand()
		if err != nil {
			return batch, err
		}
		if len(args) > 0 {
			batch = append(batch, args)
		}
		if len(batch) >= maxBatch || !c.rd.Buffered() {
			return batch, nil
		}
	}
}

// runBatch runs pipelined commands and writes their replies in order.
// Consecutive data commands on different keys run at once (each is a
// quorum round trip: run one after the other, a pipeline would wait for
// each in turn); a command on a key an earlier one of its group names,
// and every other command (connection state, QUIT, ...), starts a new
// group, so the commands on one key, and everything around a change of
// connection state, run in the order sent.
func (c *conn) runBatch(batch [][][]byte) {
	for i := 0; i < len(batch) && !c.quit; {
		j := i + 1
		if c.parallel(batch[i]) {
			seen := map[string]bool{}
			c.addKeys(seen, batch[i])
			for j < len(batch) && c.parallel(batch[j]) && !c.overlaps(seen, batch[j]) {
				c.addKeys(seen, batch[j])
				j++
			}
		}
		if j-i == 1 {
			c.run(batch[i])
		} else {
			c.runGroup(batch[i:j])
		}
		i = j
	}
}

// parallel reports whether args is a data command that may run at once
// with others on other keys.
func (c *conn) parallel(args [][]byte) bool {
	cmd := c.s.commands[lowerASCII(args[0])]
	return cmd != nil && cmd.keys[0] > 0 && cmd.arityOK(len(args))
}

// keysOf calls f with each key args names.
func (c *conn) keysOf(args [][]byte, f func(k []byte) bool) bool {
	cmd := c.s.commands[lowerASCII(args[0])]
	first, last, step := cmd.keys[0], cmd.keys[1], cmd.keys[2]
	if last < 0 {
		last = len(args) + last
	}
	for i := first; i <= last && i < len(args); i += step {
		if f(args[i]) {
			return true
		}
	}
	return false
}

func (c *conn) addKeys(seen map[string]bool, args [][]byte) {
	c.keysOf(args, func(k []byte) bool { seen[string(k)] = true; return false })
}

func (c *conn) overlaps(seen map[string]bool, args [][]byte) bool {
	return c.keysOf(args, func(k []byte) bool { return seen[string(k)] })
}

// runGroup runs commands on different keys at once, each writing its
// reply to a buffer of its own, and copies the replies in order.
func (c *conn) runGroup(group [][][]byte) {
	outs := make([]bytes.Buffer, len(group))
	var wg sync.WaitGroup
	for i, args := range group {
		sub := &conn{s: c.s, nc: c.nc, id: c.id, addr: c.addr, identity: c.identity, read: c.read, write: c.write}
		w := bufio.NewWriterSize(&outs[i], 512)
		sub.wr = &Writer{w: w, proto: c.wr.proto}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub.run(args)
			_ = w.Flush()
		}()
	}
	wg.Wait()
	c.mu.Lock()
	c.lastCmd = lowerASCII(group[len(group)-1][0])
	c.mu.Unlock()
	for i := range outs {
		_, _ = c.wr.w.Write(outs[i].Bytes())
	}
}

// lowerASCII returns b in lower case as a string.
func lowerASCII(b []byte) string {
	for _, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			return string(bytes.ToLower(b))
		}
	}
	return string(b)
}
