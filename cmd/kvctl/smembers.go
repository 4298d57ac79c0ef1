package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type smembersOptions struct {
	*globalOptions
	level string
}

// smembersJSON is the -o json object of smembers.
type smembersJSON struct {
	Key      string         `json:"key"`
	Encoding string         `json:"encoding,omitempty"`
	Members  []string       `json:"members"`
	Receipt  client.Receipt `json:"receipt"`
}

func newSMembersCmd(g *globalOptions) *cobra.Command {
	o := &smembersOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "smembers KEY",
		Short: "List the members of a set key, one per line",
		Long: `Print the members of the set KEY, one per line, sorted bytewise. A missing
key prints nothing and exits 0.`,
		Args: exactArgs(1, "KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0])
		},
	}
	consistencyFlag(cmd, &o.level)
	return cmd
}

func (o *smembersOptions) run(ctx context.Context, key string) error {
	level, err := parseLevel(o.level)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	object := func(members [][]byte, r client.Receipt) smembersJSON {
		k, ms, enc := encodeBytes([]byte(key), members)
		return smembersJSON{Key: k, Encoding: enc, Members: ms, Receipt: r}
	}
	res, err := c.SMembers(ctx, []byte(key), client.WithConsistency(level))
	if err != nil {
		// No members list: an empty one would read as a missing key.
		return o.printFailure(err, func(r client.Receipt) any { return newKeyReceiptJSON([]byte(key), r) })
	}
	if o.json() {
		return o.printJSON(object(res.Members, res.Receipt))
	}
	return o.printLines(res.Members)
}
