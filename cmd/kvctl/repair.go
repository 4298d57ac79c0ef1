package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type repairOptions struct {
	*globalOptions
	wait bool
}

// repairJSON is the -o json object of repair.
type repairJSON struct {
	Peers  []string                `json:"peers"`
	Failed []client.ReplicaFailure `json:"failed"`
}

func newRepairCmd(g *globalOptions) *cobra.Command {
	o := &repairOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Start an anti-entropy round now",
		Long: `Start an anti-entropy round on the answering node with every peer it shares
partitions with, and exit 0 once it has started; with --wait, once it has
finished with every peer (raise --timeout for large data sets). Exits 3 if
the round failed with a peer (unreachable, or answering with an error),
naming each such peer and why. With --wait, a round that finished with
every peer prints one line naming them:
  repair: done with 2 peers (n2, n3)`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.wait, "wait", false, "return once the round has finished with every peer")
	return cmd
}

func (o *repairOptions) run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	res, err := c.Repair(ctx, o.wait)
	if err != nil {
		return err
	}
	if o.json() {
		if err := o.printJSON(repairJSON{Peers: res.Peers, Failed: res.Failed}); err != nil {
			return err
		}
	}
	if len(res.Failed) == 0 {
		if o.wait && !o.json() {
			return o.printSummary(res.Peers)
		}
		return nil
	}
	// The peers the round failed with, out of all it was to exchange with
	// (Peers lists only those it finished with).
	parts := make([]string, len(res.Failed))
	for i, f := range res.Failed {
		parts[i] = f.ID + ": " + f.Reason
	}
	return exitError{exitUnavailable, fmt.Errorf("repair: failed with %d of %s (%s)",
		len(res.Failed), plural(len(res.Failed)+len(res.Peers), "peer"), strings.Join(parts, "; "))}
}

// printSummary prints the one line of a repair --wait that finished with
// every peer.
func (o *repairOptions) printSummary(peers []string) error {
	line := "repair: done with " + plural(len(peers), "peer")
	if len(peers) > 0 {
		line += " (" + strings.Join(peers, ", ") + ")"
	}
	_, err := fmt.Fprintln(o.stdout, line)
	return err
}
