package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type membersOptions struct {
	*globalOptions
}

// membersJSON is the -o json object of members.
type membersJSON struct {
	Members []client.Member `json:"members"`
}

func newMembersCmd(g *globalOptions) *cobra.Command {
	o := &membersOptions{globalOptions: g}
	return &cobra.Command{
		Use:   "members",
		Short: "List every node: id, addresses, state, share of the ring",
		Long: `List every member the answering node knows: its id, gRPC and gossip
addresses, liveness (alive, suspect, dead), ring state (joining, normal,
leaving, left, removed) and ownership, its share of the ring.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
}

func (o *membersOptions) run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	ms, err := c.Members(ctx)
	if err != nil {
		return err
	}
	if o.json() {
		if ms == nil {
			ms = []client.Member{}
		}
		return o.printJSON(membersJSON{Members: ms})
	}
	rows := [][]string{{"ID", "GRPC_ADDR", "GOSSIP_ADDR", "STATE", "RING_STATE", "OWNERSHIP"}}
	for _, m := range ms {
		rows = append(rows, []string{m.ID, m.GRPCAddr, m.GossipAddr, m.State.String(), m.RingState.String(), fmt.Sprintf("%.1f%%", 100*m.Ownership)})
	}
	return writeRows(o.stdout, rows)
}
