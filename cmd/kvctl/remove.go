package main

import (
	"context"

	"github.com/spf13/cobra"
)

type removeOptions struct {
	*globalOptions
	force bool
}

// removeJSON is the -o json object of remove.
type removeJSON struct {
	NodeID string `json:"node_id"`
}

func newRemoveCmd(g *globalOptions) *cobra.Command {
	o := &removeOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "remove NODE",
		Short: "Take a dead node out of the ring (not built yet: exits 5)",
		Long: `Mark the dead node NODE (its id) removed: its partitions are re-replicated
from the remaining replicas and its id is refused from then on. Refused for
an unknown or alive node and, unless --force, if the cluster would drop
below the replication factor.`,
		Args: exactArgs(1, "NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0])
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "remove even if fewer nodes than the replication factor remain")
	return cmd
}

func (o *removeOptions) run(ctx context.Context, id string) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if err := c.Remove(ctx, id, o.force); err != nil {
		return err
	}
	if o.json() {
		return o.printJSON(removeJSON{NodeID: id})
	}
	return nil
}
