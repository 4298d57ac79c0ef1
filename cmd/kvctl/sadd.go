package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type saddOptions struct {
	*globalOptions
	level string
}

func newSAddCmd(g *globalOptions) *cobra.Command {
	o := &saddOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "sadd KEY MEMBER...",
		Short: "Add members to a set key",
		Long: `Add each MEMBER to the set KEY. A concurrent add and remove of the same
member keep it (add wins). Prints OK (-o json: the key and the receipt).`,
		Args: minArgs(2, "KEY MEMBER..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0], args[1:])
		},
	}
	consistencyFlag(cmd, &o.level)
	return cmd
}

func (o *saddOptions) run(ctx context.Context, key string, members []string) error {
	level, err := parseLevel(o.level)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	r, err := c.SAdd(ctx, []byte(key), toBytes(members), client.WithConsistency(level))
	return o.writeResult([]byte(key), r, err)
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
