package storage

// SetAfterMutation installs a hook that runs after every change a write
// makes to a bucket inside a transaction; its error aborts the
// transaction. Call it before the first write.
func SetAfterMutation(e *Engine, hook func(bucket, key []byte) error) { e.afterMutation = hook }

// SetLogFault installs a hook that runs before each write ("write") and
// fdatasync ("sync") of the commit log; its error fails that step.
func SetLogFault(e *Engine, fault func(op string) error) {
	e.log.mu.Lock()
	e.log.fault = fault
	e.log.mu.Unlock()
}

// Crash stops e as kill -9 would, as far as its files go: what the log
// synced stays, nothing more is flushed to bbolt, the log is not cleaned.
func Crash(e *Engine) {
	e.closeOnce.Do(func() {
		e.gate.Lock()
		e.closed = true
		e.gate.Unlock()
		e.log.close()
		<-e.logDone
		close(e.flushStop)
		<-e.flushDone
		_ = e.log.closeFile()
		e.gate.Lock()
		e.reqsClosed = true
		close(e.reqs)
		e.gate.Unlock()
		<-e.done
		_ = e.db.Close()
		e.closeErr = ErrClosed
	})
}

// SyncedPosition returns the log position up to which the commit log is
// known durable. Only a log fault hook (which runs on the syncer) may
// call it.
func SyncedPosition(e *Engine) uint64 { return e.log.synced }
