package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type getOptions struct {
	*globalOptions
	level       string
	raw         bool
	contextOnly bool
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
		Long: `Read the register KEY and print its value followed by a newline; with
--raw, the value's bytes exactly as stored, without the newline. A missing
or deleted key prints nothing and exits 1.

When concurrent writes left siblings (--conflict siblings), each value is
printed on its own line, and a header on stderr names their count and the
put that resolves them:
  2 siblings; resolve with: kvctl put KEY VALUE --context TOKEN
--raw refuses a key with siblings (exit 5), as no single value is exact.

--context-only prints only the context token of the read, followed by a
newline (also for a missing key, which still exits 1), for scripts:
  kvctl put KEY VALUE --context "$(kvctl get KEY --context-only)"
-o json prints the values and the context token in one object.`,
		Args: exactArgs(1, "KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0])
		},
	}
	consistencyFlag(cmd, &o.level)
	cmd.Flags().BoolVar(&o.raw, "raw", false, "print the value's bytes exactly, without a trailing newline")
	cmd.Flags().BoolVar(&o.contextOnly, "context-only", false, "print only the context token (for put --context)")
	return cmd
}

// validate checks the flags that select what get prints.
func (o *getOptions) validate() error {
	switch {
	case o.raw && o.contextOnly:
		return usageError{errors.New("--raw and --context-only: use one")}
	case o.json() && o.raw:
		return usageError{errors.New("--raw prints the bytes and -o json an object: use one")}
	case o.json() && o.contextOnly:
		return usageError{errors.New("--context-only prints the token and -o json an object: use one")}
	}
	return nil
}

func (o *getOptions) run(ctx context.Context, key string) error {
	level, err := parseLevel(o.level)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	res, err := c.Get(ctx, []byte(key), client.WithConsistency(level))
	if err != nil {
		// No values list: an empty one would read as a missing key.
		return o.printFailure(err, func(r client.Receipt) any { return newKeyReceiptJSON([]byte(key), r) })
	}
	token := base64.RawURLEncoding.EncodeToString(res.Context)
	if err := o.print(key, token, res); err != nil {
		return err
	}
	if !res.Found {
		return exitError{exitNotFound, fmt.Errorf("key %q not found", key)}
	}
	return nil
}

// print writes what a successful read shows, as the flags select.
func (o *getOptions) print(key, token string, res *client.GetResult) error {
	switch {
	case o.json():
		k, vs, enc := encodeBytes([]byte(key), res.Values)
		return o.printJSON(getJSON{Key: k, Encoding: enc, Values: vs, Context: token, Receipt: res.Receipt})
	case o.contextOnly:
		_, err := io.WriteString(o.stdout, token+"\n")
		return err
	case len(res.Values) > 1 && o.raw:
		return fmt.Errorf("get --raw: key %q has %d siblings and --raw prints one value; resolve with: %s",
			key, len(res.Values), resolveCommand(key, token))
	case len(res.Values) > 1:
		if _, err := fmt.Fprintf(o.stderr, "%d siblings; resolve with: %s\n", len(res.Values), resolveCommand(key, token)); err != nil {
			return err
		}
		return o.printLines(res.Values)
	case o.raw:
		for _, v := range res.Values {
			if _, err := o.stdout.Write(v); err != nil {
				return err
			}
		}
		return nil
	}
	return o.printLines(res.Values)
}

// resolveCommand is the put that resolves the siblings of key seen by the
// read that returned token.
func resolveCommand(key, token string) string {
	return "kvctl put " + shellQuote(key) + " VALUE --context " + token
}
