package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type sremOptions struct {
	*globalOptions
	level string
}

func newSRemCmd(g *globalOptions) *cobra.Command {
	o := &sremOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "srem KEY MEMBER...",
		Short: "Remove members from a set key",
		Long: `Remove each MEMBER from the set KEY as a read at the same level sees
them; adds that read did not see survive. Members not in the set are
ignored. Prints OK (-o json: the key and the receipt).`,
		Args: minArgs(2, "KEY MEMBER..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0], args[1:])
		},
	}
	consistencyFlag(cmd, &o.level)
	return cmd
}

func (o *sremOptions) run(ctx context.Context, key string, members []string) error {
	level, err := parseLevel(o.level)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	r, err := c.SRem(ctx, []byte(key), toBytes(members), client.WithConsistency(level))
	return o.writeResult([]byte(key), r, err)
}
