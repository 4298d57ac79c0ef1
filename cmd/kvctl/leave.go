package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

// leavePoll is how often leave --wait asks the node how far it is.
const leavePoll = 250 * time.Millisecond

type leaveOptions struct {
	*globalOptions
	force bool
	wait  bool
}

// leaveJSON is the -o json object of leave.
type leaveJSON struct {
	Endpoint string `json:"endpoint"`
	// NodeID and RingState are set with --wait: the node and the last ring
	// state it reported (left).
	NodeID    string `json:"node_id,omitempty"`
	RingState string `json:"ring_state,omitempty"`
}

func newLeaveCmd(g *globalOptions) *cobra.Command {
	o := &leaveOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Decommission the node at the first endpoint",
		Long: `Decommission the node at the first endpoint: it becomes leaving, keeps
serving, hands every partition it replicates over to the node that takes it
over (writes go to both meanwhile), becomes left and exits 0. kvctl never
sends leave to another endpoint: if the first does not answer, it exits 4.
Without --wait, kvctl exits 0 once the node is leaving; with --wait, it shows
a progress line on stderr until the node has left. Refused (exit 2) for a
node that is not normal and, unless --force, if fewer normal nodes than the
replication factor would remain. Needs the admin role.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "leave even if fewer nodes than the replication factor remain")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until the node has left, with a progress line on stderr")
	return cmd
}

func (o *leaveOptions) run(ctx context.Context) error {
	// Every call goes to the first endpoint only: leave decommissions the
	// node the caller named, and --wait follows that node.
	endpoint := o.endpointList()[0]
	c, err := o.clientFor([]string{endpoint})
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	out := leaveJSON{Endpoint: endpoint}
	var id string
	if o.wait {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		id = st.NodeID
	}
	if err := c.Leave(ctx, o.force); err != nil {
		return err
	}
	if o.wait {
		if err := o.awaitLeft(ctx, c, id); err != nil {
			return err
		}
		out.NodeID, out.RingState = id, client.Left.String()
	}
	if o.json() {
		return o.printJSON(out)
	}
	return nil
}

// awaitLeft polls the node until it reports itself left, with a progress
// line on stderr (rewritten in place on a terminal).
func (o *leaveOptions) awaitLeft(ctx context.Context, c *client.Client, id string) error {
	tty := isTerminal(o.stderr)
	start := time.Now()
	lastLine := time.Time{}
	t := time.NewTicker(leavePoll)
	defer t.Stop()
	for {
		ms, err := c.Members(ctx)
		if err != nil {
			if errors.Is(err, client.ErrNoEndpoint) {
				return fmt.Errorf("leave: %s stopped answering before it reported itself left: %w", id, err)
			}
			return err
		}
		state := client.RingStateUnknown
		for _, m := range ms {
			if m.ID == id {
				state = m.RingState
			}
		}
		elapsed := time.Since(start).Truncate(time.Second)
		if state == client.Left {
			if tty {
				_, _ = fmt.Fprintf(o.stderr, "\r%s left after %s\033[K\n", id, elapsed)
			} else {
				_, _ = fmt.Fprintf(o.stderr, "%s left after %s\n", id, elapsed)
			}
			return nil
		}
		if state != client.Leaving {
			return fmt.Errorf("leave: %s is %s, not leaving", id, state)
		}
		progress := "handing its partitions over"
		if st, err := c.Status(ctx); err == nil && st.PartitionsMoving > 0 {
			progress = describeMove(st)
		}
		switch {
		case tty:
			_, _ = fmt.Fprintf(o.stderr, "\r%s leaving: %s (%s)\033[K", id, progress, elapsed)
		case time.Since(lastLine) >= 5*time.Second:
			_, _ = fmt.Fprintf(o.stderr, "%s leaving: %s (%s)\n", id, progress, elapsed)
			lastLine = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
