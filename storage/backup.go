package storage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Snapshot writes a consistent copy of the data file to w: a bbolt file
// as of one read transaction, which Open accepts as a data file. It returns
// the bytes written. The read transaction stays open while w consumes the
// copy, so a slow w delays writes that must grow the file's mapping.
func (e *Engine) Snapshot(w io.Writer) (int64, error) {
	var n int64
	if err := e.flushIfDirty(); err != nil {
		return 0, err
	}
	err := e.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("snapshot data file: %w", err)
	}
	return n, nil
}

// The backup file format, as kvctl backup writes it and kvctl restore
// reads it:
//
//	header  16 bytes: "QKVBACK\x00" ‖ format version (uint32 BE, 1) ‖ 4 zero bytes
//	body    the data file, as Snapshot writes it
//	trailer 48 bytes: body length (uint64 BE) ‖ SHA-256 of the body ‖ "QKVBEND\x00"
//
// The trailer is written last, once the body is verified against the
// node's own checksum, so a file cut short has no valid trailer.
const (
	backupVersion     = 1
	backupHeaderBytes = 16
	backupTailBytes   = 8 + sha256.Size + 8
)

var (
	backupMagic    = []byte("QKVBACK\x00")
	backupEndMagic = []byte("QKVBEND\x00")
)

// BackupWriter writes a backup file: NewBackupWriter writes the header,
// Write the body, Finish the trailer. It is not safe for concurrent use.
type BackupWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

// NewBackupWriter writes the header of a backup file to w.
func NewBackupWriter(w io.Writer) (*BackupWriter, error) {
	hdr := make([]byte, 0, backupHeaderBytes)
	hdr = append(hdr, backupMagic...)
	hdr = binary.BigEndian.AppendUint32(hdr, backupVersion)
	hdr = append(hdr, 0, 0, 0, 0)
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("write backup header: %w", err)
	}
	return &BackupWriter{w: w, h: sha256.New()}, nil
}

// Write appends p to the body.
func (b *BackupWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	return n, err
}

// Written returns the body bytes written so far.
func (b *BackupWriter) Written() int64 { return b.n }

// Sum returns the SHA-256 of the body written so far.
func (b *BackupWriter) Sum() []byte { return b.h.Sum(nil) }

// Finish checks the body written against the length and SHA-256 its
// source announced and writes the trailer. A mismatch wraps ErrBadBackup
// and writes nothing.
func (b *BackupWriter) Finish(length uint64, sum []byte) error {
	got := b.h.Sum(nil)
	if uint64(b.n) != length || !bytes.Equal(got, sum) {
		return fmt.Errorf("%w: received %d bytes with SHA-256 %x; the node sent %d bytes with SHA-256 %x",
			ErrBadBackup, b.n, got, length, sum)
	}
	t := binary.BigEndian.AppendUint64(make([]byte, 0, backupTailBytes), length)
	t = append(t, got...)
	t = append(t, backupEndMagic...)
	if _, err := b.w.Write(t); err != nil {
		return fmt.Errorf("write backup trailer: %w", err)
	}
	return nil
}

// Backup is a backup file whose header and trailer were read.
type Backup struct {
	// Body reads the data file held by the backup.
	Body *io.SectionReader
	// SHA256 is the checksum the trailer gives for the body.
	SHA256 [sha256.Size]byte
}

// ReadBackup reads the header and trailer of the backup file r of size
// bytes and checks the body against the trailer's checksum. Its errors wrap
// ErrBadBackup (or the read error).
func ReadBackup(r io.ReaderAt, size int64) (*Backup, error) {
	if size < backupHeaderBytes+backupTailBytes {
		return nil, fmt.Errorf("%w: %d bytes is too short: truncated", ErrBadBackup, size)
	}
	hdr := make([]byte, backupHeaderBytes)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("read backup header: %w", err)
	}
	if !bytes.Equal(hdr[:8], backupMagic) {
		return nil, fmt.Errorf("%w: not a quorumkv backup (no header)", ErrBadBackup)
	}
	if v := binary.BigEndian.Uint32(hdr[8:]); v != backupVersion {
		return nil, fmt.Errorf("%w: format version %d, this kvctl reads %d", ErrBadBackup, v, backupVersion)
	}
	tail := make([]byte, backupTailBytes)
	if _, err := r.ReadAt(tail, size-backupTailBytes); err != nil {
		return nil, fmt.Errorf("read backup trailer: %w", err)
	}
	if !bytes.Equal(tail[8+sha256.Size:], backupEndMagic) {
		return nil, fmt.Errorf("%w: no trailer: truncated", ErrBadBackup)
	}
	bodyLen := size - backupHeaderBytes - backupTailBytes
	if n := binary.BigEndian.Uint64(tail); n != uint64(bodyLen) {
		return nil, fmt.Errorf("%w: trailer says %d bytes, the file holds %d", ErrBadBackup, n, bodyLen)
	}
	b := &Backup{Body: io.NewSectionReader(r, backupHeaderBytes, bodyLen)}
	copy(b.SHA256[:], tail[8:])
	h := sha256.New()
	if _, err := io.Copy(h, b.Body); err != nil {
		return nil, fmt.Errorf("read backup body: %w", err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, b.SHA256[:]) {
		return nil, fmt.Errorf("%w: checksum mismatch: body has SHA-256 %x, trailer says %x", ErrBadBackup, got, b.SHA256)
	}
	if _, err := b.Body.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return b, nil
}
