package storage

import "errors"

// Sentinel errors. Errors returned by the Engine wrap them; match with
// errors.Is.
var (
	// ErrNotFound: no object is stored under the key.
	ErrNotFound = errors.New("not found")
	// ErrClosed: the Engine has been closed.
	ErrClosed = errors.New("storage engine closed")
	// ErrInvalidArgument: a key, partition, level, index or name outside
	// what the engine accepts.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrInvalidConfig: Config.Validate refused the configuration.
	ErrInvalidConfig = errors.New("invalid storage config")
	// ErrCorrupt: the data file, or an object in it, cannot be read.
	ErrCorrupt = errors.New("corrupt data")

	// ErrDataDir: Open cannot use the data directory (not a directory, not
	// writable, cannot be created).
	ErrDataDir = errors.New("unusable data dir")
	// ErrInUse: another process or Engine holds the data file's lock.
	ErrInUse = errors.New("data dir in use")
	// ErrBadBackup: a backup file is not one, is of another version, is
	// truncated or fails its checksum.
	ErrBadBackup = errors.New("bad backup file")

	// ErrFatal marks a failed write or sync of the commit log. Nothing
	// is rolled back in memory, so the engine takes no more writes and
	// the node must stop (see Engine.Failed).
	ErrFatal = errors.New("storage: durable write failed; the node must stop")
)

// openError is an error of Open: a one-line message for the operator that
// still matches its sentinel and its cause with errors.Is and errors.As.
type openError struct {
	msg      string
	sentinel error
	cause    error
}

func (e *openError) Error() string { return e.msg }

func (e *openError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.cause}
}
