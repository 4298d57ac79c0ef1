package main

import (
	"context"

	"github.com/spf13/cobra"
)

type leaveOptions struct {
	*globalOptions
	force bool
}

// leaveJSON is the -o json object of leave.
type leaveJSON struct {
	Endpoint string `json:"endpoint"`
}

func newLeaveCmd(g *globalOptions) *cobra.Command {
	o := &leaveOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Decommission the node at the first endpoint (not built yet: exits 5)",
		Long: `Decommission the node at the first endpoint: it streams every partition to
its new replicas, becomes left and exits. kvctl never sends leave to another
endpoint: if the first does not answer, it exits 4. Refused if the cluster
would drop below the replication factor, unless --force.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "leave even if fewer nodes than the replication factor remain")
	return cmd
}

func (o *leaveOptions) run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if err := c.Leave(ctx, o.force); err != nil {
		return err
	}
	if o.json() {
		return o.printJSON(leaveJSON{Endpoint: c.Endpoints()[0]})
	}
	return nil
}
