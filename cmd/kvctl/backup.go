package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/storage"
)

type backupOptions struct {
	*globalOptions
	out string
}

// backupJSON is the -o json object of backup.
type backupJSON struct {
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	NodeID string `json:"node_id"`
}

// backupProgressEvery is the least time between two progress lines.
const backupProgressEvery = time.Second

func newBackupCmd(g *globalOptions) *cobra.Command {
	o := &backupOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a consistent snapshot of the answering node to FILE",
		Long: `Write a consistent snapshot of the data file of the node at the first
endpoint (never another; admin role) to FILE. The node reads it in one
storage read transaction and streams it with its SHA-256; kvctl writes
FILE.tmp, checks the checksum, then renames it to FILE. It refuses an
existing FILE (exit 2). Progress goes to stderr: a line of bytes received
each second, and one with the total and the node id at the end; OK to
stdout (-o json: {"file", "bytes", "sha256", "node_id"}). --timeout bounds
each wait for the next chunk, not the whole transfer (a node that sends
nothing that long: exit 4).

The file is a 16-byte header ("QKVBACK\0", format version 1 as a 4-byte
big-endian integer, 4 zero bytes), the data file, and a 48-byte trailer
(the data file's length as an 8-byte big-endian integer, its SHA-256,
"QKVBEND\0"). kvctl restore checks it before it writes anything.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.out, "out", "", "the backup file to write; must not exist (required)")
	return cmd
}

func (o *backupOptions) run(ctx context.Context) (err error) {
	if o.out == "" {
		return usageError{errors.New("backup: --out is required")}
	}
	if _, err := os.Lstat(o.out); err == nil {
		return exitError{exitUsage, fmt.Errorf("backup: %s exists: refusing to overwrite it", o.out)}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()

	tmp := o.out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	buf := bufio.NewWriterSize(f, 1<<20)
	w, err := storage.NewBackupWriter(buf)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	lastShown := time.Now() // a backup done within a second shows no progress
	progress := func(n int64) {
		if now := time.Now(); now.Sub(lastShown) >= backupProgressEvery {
			lastShown = now
			_, _ = fmt.Fprintf(o.stderr, "backup: %d bytes received\n", n)
		}
	}
	res, err := c.Backup(ctx, w, progress)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(o.stderr, "backup: %d bytes received from %s\n", res.Bytes, res.NodeID)
	if err := o.finish(f, buf, w, uint64(res.Bytes), res.SHA256); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if o.json() {
		return o.printJSON(backupJSON{File: o.out, Bytes: res.Bytes, SHA256: hex.EncodeToString(res.SHA256), NodeID: res.NodeID})
	}
	_, err = fmt.Fprint(o.stdout, okLine)
	return err
}

// finish checks the body against the node's trailer, writes the file's
// trailer, makes FILE.tmp durable and renames it to FILE.
func (o *backupOptions) finish(f *os.File, buf *bufio.Writer, w *storage.BackupWriter, length uint64, sum []byte) error {
	if err := w.Finish(length, sum); err != nil {
		return err
	}
	if err := buf.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if _, err := os.Lstat(o.out); err == nil {
		return exitError{exitUsage, fmt.Errorf("%s appeared during the backup: refusing to overwrite it", o.out)}
	}
	if err := os.Rename(f.Name(), o.out); err != nil {
		return err
	}
	return syncDir(filepath.Dir(o.out))
}

// syncDir fsyncs directory dir, making the entries renamed in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
