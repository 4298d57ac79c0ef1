package main

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/storage"
)

type restoreOptions struct {
	*globalOptions
	in      string
	dataDir string
}

// restoreJSON is the -o json object of restore.
type restoreJSON struct {
	DataDir      string `json:"data_dir"`
	Bytes        int64  `json:"bytes"`
	SHA256       string `json:"sha256"`
	Actor        string `json:"actor"`
	HintsDropped int    `json:"hints_dropped"`
}

func newRestoreCmd(g *globalOptions) *cobra.Command {
	o := &restoreOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "restore --in FILE --data-dir DIR",
		Short: "Write a node's data dir from a backup file (offline)",
		Long: `Write the data dir DIR of a stopped node from FILE, a file kvctl backup
wrote. It talks to no node. DIR must be missing or empty (else exit 2).
FILE's header and trailer and its SHA-256 are checked before anything is
written (a damaged or truncated file: exit 5). Then the restored data is
opened and
  - given a new actor: the node went on issuing dots of its old actor after
    the backup, and those dots live on other replicas; the new actor is
    stored in the dot lease, which the node loads at its next start, so no
    dot is ever issued twice;
  - stripped of every hint: the writes they hold reached their targets or
    were superseded since.
The data file is built in DIR/.restore and moved into DIR only then; a
restore that fails removes DIR/.restore, one cut short by a crash leaves
it: remove it and restore again.

Start the node on DIR with the node id it had: it rejoins, and
anti-entropy (kvctl repair --wait) brings it up to date. Prints OK (-o json:
{"data_dir", "bytes", "sha256", "actor", "hints_dropped"}).

See kvctl backup --help for the file format.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			return o.run()
		},
	}
	cmd.Flags().StringVar(&o.in, "in", "", "the backup file (required)")
	cmd.Flags().StringVar(&o.dataDir, "data-dir", "", "the data dir to write; missing or empty (required)")
	return cmd
}

func (o *restoreOptions) run() error {
	switch o.output {
	case outputText, outputJSON:
	default:
		return usageError{fmt.Errorf("-o: unknown output format %q: use text or json", o.output)}
	}
	if o.in == "" || o.dataDir == "" {
		return usageError{errors.New("restore: --in and --data-dir are required")}
	}
	res, err := storage.Restore(o.in, o.dataDir)
	if errors.Is(err, storage.ErrDataDir) {
		return exitError{exitUsage, fmt.Errorf("restore: %w", err)}
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if o.json() {
		return o.printJSON(restoreJSON{DataDir: o.dataDir, Bytes: res.Bytes, SHA256: hex.EncodeToString(res.SHA256[:]),
			Actor: fmt.Sprintf("%016x", uint64(res.Actor)), HintsDropped: res.HintsDropped})
	}
	_, err = fmt.Fprint(o.stdout, okLine)
	return err
}

// isRestore reports whether cmd is restore: it writes a data dir and
// talks to no node.
func isRestore(cmd *cobra.Command) bool {
	return cmd.Name() == "restore" && cmd.HasParent() && !cmd.Parent().HasParent()
}
