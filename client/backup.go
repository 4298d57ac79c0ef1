package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

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

// errBackupIncomplete is a stream that ended without the trailer.
var errBackupIncomplete = errors.New("the backup stream ended without its trailer")

// Backup streams a consistent snapshot of the data file of the node at the
// first endpoint into w (it never falls over to another endpoint: the bytes
// written must come from one node). progress, if not nil, is called with
// the bytes received so far after each chunk. It returns once the node's
// trailer arrived and matches the bytes received; a mismatch, or a stream
// cut short, is an error, and what w got is then not a usable snapshot. An
// error of w is returned as is. The client's timeout bounds the whole
// stream: give large data files a long enough WithTimeout.
func (c *Client) Backup(ctx context.Context, w io.Writer, progress func(bytes int64), opts ...CallOption) (*BackupResult, error) {
	var (
		res      *BackupResult
		writeErr error
	)
	err := c.invoke(ctx, c.callConfig(opts), true, func(ctx context.Context, kv quorumkvv1.KVClient) error {
		stream, err := kv.Backup(ctx, &quorumkvv1.BackupRequest{})
		if err != nil {
			return err
		}
		h := sha256.New()
		var n int64
		for {
			m, err := stream.Recv()
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
