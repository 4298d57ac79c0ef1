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
		Short: "Take a dead node out of the ring",
		Long: `Mark the dead node NODE (its id) removed: the ring leaves it out, the nodes
that take its partitions over are filled from the remaining replicas at
once, and its id is refused from then on. Removing a removed node again does
nothing. Refused (exit 2) for an unknown node, for a node that is alive or
suspect (decommission a live node with kvctl leave on it) and, unless
--force, if fewer normal nodes than the replication factor would remain.
Needs the admin role.`,
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
