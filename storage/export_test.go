package storage

// SetAfterMutation installs a hook that runs after every change a write
// makes to a bucket inside a transaction; its error aborts the
// transaction. Call it before the first write.
func SetAfterMutation(e *Engine, hook func(bucket, key []byte) error) { e.afterMutation = hook }
