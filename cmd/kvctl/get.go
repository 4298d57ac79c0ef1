package main

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type getOptions struct {
	*globalOptions
	level string
}

// getJSON is the -o json object of get.
type getJSON struct {
	Key      string         `json:"key"`
	Encoding string         `json:"encoding,omitempty"`
	Values   []string       `json:"values"`
	Context  string         `json:"context"`
	Receipt  client.Receipt `json:"receipt"`
}

func newGetCmd(g *globalOptions) *cobra.Command {
	o := &getOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Read a register key (siblings one per line); exit 1 if missing",
		Long: `Read the register KEY and print its value followed by a newline; when
concurrent writes left siblings, one per line. A missing or deleted key
prints nothing and exits 1. -o json adds the context token to give to
put --context.`,
		Args: exactArgs(1, "KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0])
		},
	}
	consistencyFlag(cmd, &o.level)
	return cmd
}

func (o *getOptions) run(ctx context.Context, key string) error {
	level, err := parseLevel(o.level)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	object := func(values [][]byte, token []byte, r client.Receipt) getJSON {
		k, vs, enc := encodeBytes([]byte(key), values)
		return getJSON{Key: k, Encoding: enc, Values: vs, Context: base64.RawURLEncoding.EncodeToString(token), Receipt: r}
	}
	res, err := c.Get(ctx, []byte(key), client.WithConsistency(level))
	if err != nil {
		// No values list: an empty one would read as a missing key.
		return o.printFailure(err, func(r client.Receipt) any { return newKeyReceiptJSON([]byte(key), r) })
	}
	if o.json() {
		if err := o.printJSON(object(res.Values, res.Context, res.Receipt)); err != nil {
			return err
		}
	} else if err := o.printLines(res.Values); err != nil {
		return err
	}
	if !res.Found {
		return exitError{exitNotFound, fmt.Errorf("key %q not found", key)}
	}
	return nil
}
