package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
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
	// Down lists the replicas the answering node sees dead or suspect.
	Down []string `json:"down"`
}

func newRingCmd(g *globalOptions) *cobra.Command {
	o := &ringOptions{globalOptions: g}
	return &cobra.Command{
		Use:   "ring KEY",
		Short: "Show the partition and replicas of a key",
		Long: `Show which partition KEY falls in and which nodes replicate it, in
preference order, as the answering node sees the ring. Replicas it sees
down are marked (dead) or (suspect); -o json lists them in "down".`,
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
	ms, err := c.Members(ctx)
	if err != nil {
		return err
	}
	liveness := make(map[string]client.Liveness, len(ms))
	for _, m := range ms {
		liveness[m.ID] = m.State
	}
	down := []string{}
	marked := make([]string, len(p.Replicas))
	for i, id := range p.Replicas {
		marked[i] = id
		if l := liveness[id]; l == client.Dead || l == client.Suspect {
			down = append(down, id)
			marked[i] = fmt.Sprintf("%s(%s)", id, l)
		}
	}
	if o.json() {
		k, _, enc := encodeBytes([]byte(key), nil)
		return o.printJSON(ringJSON{Key: k, Encoding: enc, Partition: p.Partition, Replicas: p.Replicas, Down: down})
	}
	return writeRows(o.stdout, [][]string{
		{"partition", strconv.FormatUint(uint64(p.Partition), 10)},
		{"replicas", strings.Join(marked, " ")},
	})
}
