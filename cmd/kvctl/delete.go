package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type deleteOptions struct {
	*globalOptions
	level string
}

func newDeleteCmd(g *globalOptions) *cobra.Command {
	o := &deleteOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete a register key (a missing key is not an error)",
		Long: `Delete the register KEY: read it at the level and write a tombstone with
that read's context, so it removes exactly what it saw. Deleting a missing
key succeeds. Prints OK (-o json: the key and the receipt).`,
		Args: exactArgs(1, "KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0])
		},
	}
	consistencyFlag(cmd, &o.level)
	return cmd
}

func (o *deleteOptions) run(ctx context.Context, key string) error {
	level, err := parseLevel(o.level)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	r, err := c.Delete(ctx, []byte(key), client.WithConsistency(level))
	return o.writeResult([]byte(key), r, err)
}
