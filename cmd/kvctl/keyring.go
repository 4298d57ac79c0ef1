package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type keyringOptions struct {
	*globalOptions
}

// keyringJSON is the -o json object of every keyring subcommand; keys are
// base64.
type keyringJSON struct {
	Nodes []client.NodeKeyring `json:"nodes"`
}

func newKeyringCmd(g *globalOptions) *cobra.Command {
	o := &keyringOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "List and rotate the gossip encryption keys",
		Long: `Manage the gossip encryption keys of every alive member (admin). KEY is a
base64 32-byte key, as kvctl certs create-gossip-key writes. Each change is
applied by the answering node to itself and every alive member, which
persist it (it survives restarts and wins over --gossip-key-file). A
rotation: install NEW, use NEW, remove OLD, each one done on every member
before the next. A member that did not take a change is listed with its
error and kvctl exits 5.`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Every member's gossip keys, the primary first",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), 0, nil)
		},
	}
	cmd.AddCommand(list)
	for _, c := range []struct {
		use, short string
		op         client.KeyringOp
	}{
		{"install KEY", "Add KEY: every member accepts gossip sealed with it", client.KeyInstall},
		{"use KEY", "Make the installed KEY primary: gossip is sealed with it", client.KeyUse},
		{"remove KEY", "Drop KEY, which must not be primary", client.KeyRemove},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   c.use,
			Short: c.short,
			Args:  exactArgs(1, "KEY"),
			RunE: func(cmd *cobra.Command, args []string) error {
				key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(args[0]))
				if err != nil || len(key) != 32 {
					return usageError{fmt.Errorf("KEY must be a base64 32-byte key")}
				}
				return o.run(cmd.Context(), c.op, key)
			},
		})
	}
	return cmd
}

func (o *keyringOptions) run(ctx context.Context, op client.KeyringOp, key []byte) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	var nodes []client.NodeKeyring
	if op == 0 {
		nodes, err = c.KeyringList(ctx)
	} else {
		nodes, err = c.KeyringChange(ctx, op, key)
	}
	if err != nil {
		return err
	}
	if o.json() {
		if nodes == nil {
			nodes = []client.NodeKeyring{}
		}
		if err := o.printJSON(keyringJSON{Nodes: nodes}); err != nil {
			return err
		}
	} else {
		rows := [][]string{{"NODE", "KEY", "PRIMARY"}}
		for _, n := range nodes {
			if n.Error != "" {
				rows = append(rows, []string{n.NodeID, "error: " + oneLine(n.Error), "-"})
				continue
			}
			for i, k := range n.Keys {
				rows = append(rows, []string{n.NodeID, base64.StdEncoding.EncodeToString(k), map[bool]string{true: "yes", false: "no"}[i == 0]})
			}
		}
		if err := writeRows(o.stdout, rows); err != nil {
			return err
		}
	}
	var failed []string
	for _, n := range nodes {
		if n.Error != "" {
			failed = append(failed, n.NodeID)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d member(s) did not answer or refused: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}
