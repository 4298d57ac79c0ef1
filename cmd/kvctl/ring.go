package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

type ringOptions struct {
	*globalOptions
}

// ringJSON is the -o json object of ring.
type ringJSON struct {
	Key       string   `json:"key"`
	Encoding  string   `json:"encoding,omitempty"`
	Partition uint32   `json:"partition"`
	Replicas  []string `json:"replicas"`
}

func newRingCmd(g *globalOptions) *cobra.Command {
	o := &ringOptions{globalOptions: g}
	return &cobra.Command{
		Use:   "ring KEY",
		Short: "Show the partition and replicas of a key",
		Long: `Show which partition KEY falls in and which nodes replicate it, in
preference order, as the answering node sees the ring.`,
		Args: exactArgs(1, "KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0])
		},
	}
}

func (o *ringOptions) run(ctx context.Context, key string) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	p, err := c.Ring(ctx, []byte(key))
	if err != nil {
		return err
	}
	if o.json() {
		k, _, enc := encodeBytes([]byte(key), nil)
		return o.printJSON(ringJSON{Key: k, Encoding: enc, Partition: p.Partition, Replicas: p.Replicas})
	}
	return writeRows(o.stdout, [][]string{
		{"partition", strconv.FormatUint(uint64(p.Partition), 10)},
		{"replicas", strings.Join(p.Replicas, " ")},
	})
}
