package replication

import (
	"errors"
	"fmt"

	"github.com/quorumkv/quorumkv/storage"
)

// localWriteFailed handles the failure of the coordinator's own durable
// write of key. A failed log write or fsync (storage.ErrFatal) is fatal:
// nothing is rolled back in memory, so the node must stop. The first such
// error is kept (later writes are refused with it) and handed to
// Config.OnFatal, once.
func (c *Coordinator) localWriteFailed(key []byte, err error) {
	c.localFailures.Add(1)
	if !errors.Is(err, storage.ErrFatal) {
		c.cfg.Logger.Error("local write not durable", "key", fmt.Sprintf("%q", key), "err", err)
		return
	}
	fatal := fmt.Errorf("refusing writes: this node's own durable write failed and the node must stop: %w", err)
	if !c.fatal.CompareAndSwap(nil, &fatal) {
		return
	}
	c.cfg.Logger.Error("local durable write failed: the node must stop", "key", fmt.Sprintf("%q", key), "err", err)
	if c.cfg.OnFatal != nil {
		c.cfg.OnFatal(err)
	}
}

// fatalErr returns the error writes are refused with once the node's own
// durable write failed fatally, nil before.
func (c *Coordinator) fatalErr() error {
	if p := c.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// LocalWriteFailures returns how many of the coordinator's own durable
// writes failed, fatally or not. Each may have left a dot on other
// replicas that this node's copy lacks: a node that saw one must not
// count its shutdown as clean.
func (c *Coordinator) LocalWriteFailures() int64 { return c.localFailures.Load() }
