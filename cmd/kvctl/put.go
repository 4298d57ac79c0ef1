package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type putOptions struct {
	*globalOptions
	level   string
	context string
}

func newPutCmd(g *globalOptions) *cobra.Command {
	o := &putOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Write a value to a register key (VALUE - reads stdin)",
		Long: `Write VALUE to the register KEY. VALUE - reads the whole of stdin, bytes
exact. Without --context the write is blind: concurrent with everything
stored. With the context token of an earlier get (its "context" field in
-o json, or get --context-only) it replaces exactly the values that read
saw. Prints OK (-o json: the key and the receipt).`,
		Args: exactArgs(2, "KEY VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0], args[1])
		},
	}
	consistencyFlag(cmd, &o.level)
	cmd.Flags().StringVar(&o.context, "context", "", "context token of an earlier get of KEY (base64url)")
	return cmd
}

func (o *putOptions) run(ctx context.Context, key, value string) error {
	level, err := parseLevel(o.level)
	if err != nil {
		return err
	}
	token, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(o.context, "="))
	if err != nil {
		return usageError{fmt.Errorf("--context: not a context token: %w", err)}
	}
	val := []byte(value)
	if value == "-" {
		if val, err = io.ReadAll(o.stdin); err != nil {
			return fmt.Errorf("reading the value from stdin: %w", err)
		}
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	opts := []client.CallOption{client.WithConsistency(level)}
	if len(token) > 0 {
		opts = append(opts, client.WithContext(token))
	}
	r, err := c.Put(ctx, []byte(key), val, opts...)
	return o.writeResult([]byte(key), r, err)
}
