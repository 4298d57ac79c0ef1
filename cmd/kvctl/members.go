package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type membersOptions struct {
	*globalOptions
}

// membersJSON is the -o json object of members.
type membersJSON struct {
	Members []memberJSON `json:"members"`
}

// memberJSON is one member; moves is set for a joining or leaving member
// that reported partitions moving.
type memberJSON struct {
	client.Member
	Moves *moveJSON `json:"moves,omitempty"`
}

func newMembersCmd(g *globalOptions) *cobra.Command {
	o := &membersOptions{globalOptions: g}
	return &cobra.Command{
		Use:   "members",
		Short: "List every node: id, addresses, state, share of the ring",
		Long: `List every member the answering node knows: its id, gRPC and gossip
addresses, liveness (alive, suspect, dead), ring state (joining, normal,
leaving, left, removed) and ownership, its share of the ring. For a
member that joins or leaves, MOVES shows the progress of its partitions
moving (asked of the member itself): partitions filled or handed over,
bytes moved and the estimated time left. For a node started with
kvnode --replace, REPLACES names the member whose place it took.`,
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
	moves := membersMoving(ctx, c, ms)
	if o.json() {
		out := membersJSON{Members: make([]memberJSON, len(ms))}
		for i, m := range ms {
			out.Members[i] = memberJSON{Member: m, Moves: newMoveJSON(moves[i])}
		}
		return o.printJSON(out)
	}
	header := []string{"ID", "GRPC_ADDR", "GOSSIP_ADDR", "STATE", "RING_STATE", "OWNERSHIP"}
	anyMoving := slices.ContainsFunc(moves, func(st *client.Status) bool { return st != nil })
	if anyMoving {
		header = append(header, "MOVES")
	}
	anyReplaces := slices.ContainsFunc(ms, func(m client.Member) bool { return m.Replaces != "" })
	if anyReplaces {
		header = append(header, "REPLACES")
	}
	rows := [][]string{header}
	for i, m := range ms {
		row := []string{m.ID, m.GRPCAddr, m.GossipAddr, m.State.String(), m.RingState.String(), fmt.Sprintf("%.1f%%", 100*m.Ownership)}
		if anyMoving {
			mv := "-"
			if moves[i] != nil {
				mv = describeMove(moves[i])
			}
			row = append(row, mv)
		}
		if anyReplaces {
			row = append(row, cmp.Or(m.Replaces, "-"))
		}
		rows = append(rows, row)
	}
	return writeRows(o.stdout, rows)
}

// membersMoving asks every alive joining or leaving member of ms for its
// status, in parallel; entry i is member i's status when it answered and
// reports partitions moving, nil otherwise. A member that does not answer
// is left out: members still lists it.
func membersMoving(ctx context.Context, c *client.Client, ms []client.Member) []*client.Status {
	out := make([]*client.Status, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		if m.State != client.Alive || (m.RingState != client.Joining && m.RingState != client.Leaving) || m.GRPCAddr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, err := c.StatusOf(ctx, m); err == nil && st.PartitionsMoving > 0 {
				out[i] = st
			}
		}()
	}
	wg.Wait()
	return out
}
