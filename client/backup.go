package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	quorumkvv1 "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
)

// BackupResult describes a backup the node streamed.
type BackupResult struct {
	// NodeID is the id of the node that answered.
	NodeID string
	// Bytes is the length of its data file snapshot.
	Bytes int64
	// SHA256 is the snapshot's checksum, as received and as the node
	// computed it.
	SHA256 []byte
}

var (
	// errBackupIncomplete is a stream that ended without the trailer.
	errBackupIncomplete = errors.New("the backup stream ended without its trailer")
	// errBackupIdle cancels a stream that sent nothing for the timeout.
	errBackupIdle = errors.New("the backup stream was idle for the timeout")
)

// idleStatus returns err, or a DeadlineExceeded status naming idle when
// the stream was cancelled for sending nothing that long.
func idleStatus(ctx context.Context, idle time.Duration, err error) error {
	if errors.Is(context.Cause(ctx), errBackupIdle) {
		return status.Errorf(codes.DeadlineExceeded, "no backup data within %s", idle)
	}
	return err
}

// Backup streams a consistent snapshot of the data file of the node at the
// first endpoint into w (it never falls over to another endpoint: the bytes
// written must come from one node). progress, if not nil, is called with
// the bytes received so far after each chunk. It returns once the node's
// trailer arrived and matches the bytes received; a mismatch, or a stream
// cut short, is an error, and what w got is then not a usable snapshot. An
// error of w is returned as is. The client's timeout (WithTimeout) bounds
// each wait for the next message, not the whole stream, so a large data
// file takes as long as it needs; ctx bounds the whole.
func (c *Client) Backup(ctx context.Context, w io.Writer, progress func(bytes int64), opts ...CallOption) (*BackupResult, error) {
	var (
		res      *BackupResult
		writeErr error
	)
	cc := c.callConfig(opts)
	idle := cc.timeout
	cc.timeout = 0 // the attempt is bounded by idle, per message, below
	err := c.invoke(ctx, cc, true, func(ctx context.Context, kv quorumkvv1.KVClient) error {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		var timer *time.Timer
		if idle > 0 {
			timer = time.AfterFunc(idle, func() { cancel(errBackupIdle) })
			defer timer.Stop()
		}
		stream, err := kv.Backup(ctx, &quorumkvv1.BackupRequest{})
		if err != nil {
			return idleStatus(ctx, idle, err)
		}
		h := sha256.New()
		var n int64
		for {
			m, err := stream.Recv()
			if timer != nil && err == nil {
				timer.Reset(idle)
			}
			if err != nil {
				err = idleStatus(ctx, idle, err)
			}
			if errors.Is(err, io.EOF) {
				return errBackupIncomplete
			}
			if err != nil {
				return err
			}
			if t := m.GetTrailer(); t != nil {
				res = &BackupResult{NodeID: t.GetNodeId(), Bytes: n, SHA256: h.Sum(nil)}
				if uint64(n) != t.GetLength() || !bytes.Equal(res.SHA256, t.GetSha256()) {
					res = nil
					return fmt.Errorf("the backup from %s is damaged: received %d bytes with SHA-256 %x, the node sent %d with SHA-256 %x",
						t.GetNodeId(), n, h.Sum(nil), t.GetLength(), t.GetSha256())
				}
				return nil
			}
			chunk := m.GetChunk()
			if _, err := w.Write(chunk); err != nil {
				writeErr = err
				return err
			}
			h.Write(chunk)
			n += int64(len(chunk))
			if progress != nil {
				progress(n)
			}
		}
	})
	if writeErr != nil {
		return nil, writeErr
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}
