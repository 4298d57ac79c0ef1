package node

import (
	"bytes"
	"fmt"

	"github.com/quorumkv/quorumkv/storage"
)

// metaShutdown names the clean shutdown record in the data dir's metadata:
// "clean" once the node closed normally (the last write before its storage
// closes), "running" from the start that clears it, before any dot is
// issued, until then.
const metaShutdown = "shutdown"

var (
	shutdownClean   = []byte("clean")
	shutdownRunning = []byte("running")
)

// freshDataDir reports whether eng's data dir is new: no node id is
// recorded in it yet (checkIdentity records it).
func freshDataDir(eng *storage.Engine) (bool, error) {
	_, ok, err := eng.Meta(metaNodeID)
	return !ok, err
}

// markRunning reads how the node last stopped, then records durably that
// it runs. It reports whether the last start was not followed by a clean
// shutdown: then dots this node issued may be lost here (staged or
// unsynced at a crash, or after a failed fsync) and held by other
// replicas, and the node must renew its actor before issuing another. A
// fresh data dir counts as clean: its actor is new.
func markRunning(eng *storage.Engine, fresh bool) (unclean bool, err error) {
	v, ok, err := eng.Meta(metaShutdown)
	if err != nil {
		return false, fmt.Errorf("read the shutdown record: %w", err)
	}
	if err := eng.PutMeta(metaShutdown, shutdownRunning); err != nil {
		return false, fmt.Errorf("clear the shutdown record: %w", err)
	}
	return !fresh && (!ok || !bytes.Equal(v, shutdownClean)), nil
}

// recordCleanShutdown is the last write before storage closes: it records
// a clean shutdown, unless this start never cleared the record (it failed
// before: the record is another start's), failed before it renewed the
// actor it had to, or one of the coordinator's own durable writes failed.
func (n *node) recordCleanShutdown(eng *storage.Engine) {
	if !n.markedRunning || n.mustRenew || n.fatalErr.Load() != nil {
		return
	}
	if n.coord != nil && n.coord.LocalWriteFailures() > 0 {
		n.log.Warn("not recording a clean shutdown: a local durable write failed; the next start renews the actor",
			"failed_writes", n.coord.LocalWriteFailures())
		return
	}
	if err := eng.PutMeta(metaShutdown, shutdownClean); err != nil {
		n.log.Error("record the clean shutdown: the next start renews the actor", "err", err)
	}
}

// renewIfUnclean gives the node a new actor when its last start was not
// followed by a clean shutdown (Riak's vnode epochs): a dot acknowledged
// by peers but lost here must not be superseded by a later dot of the
// same actor on a copy that lacks it.
func (n *node) renewIfUnclean() error {
	if !n.mustRenew {
		return nil
	}
	old := n.dots.Actor()
	if err := n.dots.RenewActor(); err != nil {
		return fmt.Errorf("renew the actor after an unclean shutdown: %w", err)
	}
	n.mustRenew = false
	n.log.Warn("the last shutdown was not clean: renewing the actor (dots issued before may be lost here and held by other replicas)",
		"old_actor", old, "actor", n.dots.Actor())
	return nil
}

// onFatal is the coordinator's Config.OnFatal: the node's own durable
// write failed (storage.ErrFatal) and nothing is rolled back in memory, so
// the node stops, without recording a clean shutdown (its next start
// renews the actor). Safe to call more than once, from any goroutine.
func (n *node) onFatal(err error) {
	if !n.fatalErr.CompareAndSwap(nil, &err) {
		return
	}
	n.log.Error("a local durable write failed: stopping the node; its next start renews its actor", "err", err)
	n.fatal <- fmt.Errorf("stopping after a failed local durable write: %w", err) // buffered for the first
}
