package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/storage"
)

type compactOptions struct {
	*globalOptions
	dataDir string
	out     string
}

// compactJSON is the -o json object of compact.
type compactJSON struct {
	DataDir     string `json:"data_dir"`
	Out         string `json:"out,omitempty"`
	BytesBefore int64  `json:"bytes_before"`
	BytesAfter  int64  `json:"bytes_after"`
}

func newCompactCmd(g *globalOptions) *cobra.Command {
	o := &compactOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "compact --data-dir DIR [--out FILE]",
		Short: "Give a stopped node's free data file pages back to the disk (offline)",
		Long: `Rewrite the data file (DIR/data.db) of a stopped node without its free
pages. The data file never shrinks while the node runs: pages freed by
deletes, purges and hand-offs are reused, not returned (kvctl status shows
storage_bytes, the file, beside live_bytes, what holds data). It talks to
no node and touches nothing in DIR but data.db.

The node must be stopped: a data dir whose node runs is refused (exit 5).
The copy is built in DIR/data.db.compact, synced, and renamed over
data.db; a compaction cut short leaves the old file whole (and a stale
data.db.compact, which the next run replaces). With --out FILE the copy is
written to FILE instead (which must not exist) and DIR is left as it was.

Prints the sizes before and after (-o json: {"data_dir", "out",
"bytes_before", "bytes_after"}).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			return o.run()
		},
	}
	cmd.Flags().StringVar(&o.dataDir, "data-dir", "", "the stopped node's data dir (required)")
	cmd.Flags().StringVar(&o.out, "out", "", "write the compacted copy to this file, which must not exist, and leave the data dir as it is")
	return cmd
}

func (o *compactOptions) run() error {
	switch o.output {
	case outputText, outputJSON:
	default:
		return usageError{fmt.Errorf("-o: unknown output format %q: use text or json", o.output)}
	}
	if o.dataDir == "" {
		return usageError{errors.New("compact: --data-dir is required")}
	}
	before, after, err := storage.CompactFile(o.dataDir, o.out)
	switch {
	case errors.Is(err, storage.ErrDataDir), errors.Is(err, storage.ErrInvalidArgument):
		return exitError{exitUsage, fmt.Errorf("compact: %w", err)}
	case err != nil:
		return fmt.Errorf("compact: %w", err)
	}
	if o.json() {
		return o.printJSON(compactJSON{DataDir: o.dataDir, Out: o.out, BytesBefore: before, BytesAfter: after})
	}
	line := fmt.Sprintf("compacted %s: %d -> %d bytes (%s -> %s)", storage.DataFile(o.dataDir), before, after,
		humanBytes(uint64(before)), humanBytes(uint64(after)))
	if o.out != "" {
		line += "; the copy is " + o.out + ", the data dir is unchanged"
	}
	_, err = fmt.Fprintln(o.stdout, line)
	return err
}

// isOffline reports whether cmd works on local files only and talks to no
// node (restore, compact).
func isOffline(cmd *cobra.Command) bool {
	return isRestore(cmd) || (cmd.Name() == "compact" && cmd.HasParent() && !cmd.Parent().HasParent())
}
