package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/security"
)

type certsOptions struct {
	*globalOptions
	dir   string
	hosts []string
	role  string
}

func newCertsCmd(g *globalOptions) *cobra.Command {
	o := &certsOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create the cluster's CA, node and client certificates and gossip keys",
		Long: `Create the files mutual TLS and gossip encryption need, as cockroach cert does.
Certificates are ECDSA P-256, keys are written with mode 0600, and no file
is ever overwritten (exit 2 naming it). Every command writes into --dir:

  kvctl certs create-ca --dir D                         D/ca.crt, D/ca.key
  kvctl certs create-node ID --host H[,H...] --dir D    D/node-ID.crt, D/node-ID.key
  kvctl certs create-client NAME --role R --dir D       D/client-NAME.crt, D/client-NAME.key
  kvctl certs create-gossip-key --dir D                 D/gossip.key

A node certificate names its node in the URI SAN quorumkv://node/ID and its
hosts as DNS and IP SANs; a client certificate names its client and role in
the URI SAN quorumkv://client/NAME?role=R. Roles: read (get, smembers, ring,
members, status), write (read plus put, delete, sadd, srem), admin (write
plus repair, leave, remove, backup).`,
		Args: exactArgs(0, "a subcommand: create-ca, create-node, create-client or create-gossip-key"),
	}
	dirFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&o.dir, "dir", "", "directory of the CA and the files written (required)")
		c.PreRunE = func(c *cobra.Command, _ []string) error {
			if o.dir == "" {
				return usageError{fmt.Errorf("%s: --dir is required", c.CommandPath())}
			}
			if c.Flags().Lookup("role") != nil && o.role == "" {
				return usageError{fmt.Errorf("%s: --role is required: read, write or admin", c.CommandPath())}
			}
			return nil
		}
	}
	createCA := &cobra.Command{
		Use:   "create-ca --dir D",
		Short: "Create the cluster's CA: D/ca.crt and D/ca.key",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			return o.done(security.CreateCA(o.dir, security.CertOptions{}), security.CACertFile, security.CAKeyFile)
		},
	}
	createNode := &cobra.Command{
		Use:   "create-node ID --host H[,H...] --dir D",
		Short: "Create node ID's certificate, signed by the CA in D",
		Args:  exactArgs(1, "the node id"),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(o.hosts) == 0 {
				return usageError{errors.New("create-node: --host is required: the names and addresses the node is reached at")}
			}
			return o.done(security.CreateNode(o.dir, args[0], o.hosts, security.CertOptions{}),
				security.NodeCertFile(args[0]), security.NodeKeyFile(args[0]))
		},
	}
	createNode.Flags().StringSliceVar(&o.hosts, "host", nil, "DNS names and IP addresses the node is reached at, comma-separated or repeated (required)")
	createClient := &cobra.Command{
		Use:   "create-client NAME --role read|write|admin --dir D",
		Short: "Create client NAME's certificate with a role, signed by the CA in D",
		Args:  exactArgs(1, "the client name"),
		RunE: func(_ *cobra.Command, args []string) error {
			role, err := security.ParseClientRole(o.role)
			if err != nil {
				return usageError{fmt.Errorf("--role: %w", err)}
			}
			return o.done(security.CreateClient(o.dir, args[0], role, security.CertOptions{}),
				security.ClientCertFile(args[0]), security.ClientKeyFile(args[0]))
		},
	}
	createClient.Flags().StringVar(&o.role, "role", "", "the client's role: read, write or admin (required)")
	createGossipKey := &cobra.Command{
		Use:   "create-gossip-key --dir D",
		Short: "Create a gossip encryption key: D/gossip.key",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			return o.done(security.CreateGossipKey(o.dir), security.GossipKeyFile)
		},
	}
	for _, c := range []*cobra.Command{createCA, createNode, createClient, createGossipKey} {
		dirFlag(c)
		cmd.AddCommand(c)
	}
	return cmd
}

// done turns a Create function's error into kvctl's (a file that exists
// already or a bad name is exit 2) or prints the files written.
func (o *certsOptions) done(err error, files ...string) error {
	var (
		ee *security.ExistsError
		ne *security.NameError
	)
	switch {
	case errors.As(err, &ee):
		return exitError{exitUsage, err}
	case errors.As(err, &ne):
		return usageError{err}
	case err != nil:
		return err
	}
	if o.json() {
		paths := make([]string, len(files))
		for i, f := range files {
			paths[i] = filepath.Join(o.dir, f)
		}
		return o.printJSON(struct {
			Files []string `json:"files"`
		}{paths})
	}
	for _, f := range files {
		if _, err := fmt.Fprintln(o.stdout, "wrote "+filepath.Join(o.dir, f)); err != nil {
			return err
		}
	}
	return nil
}
