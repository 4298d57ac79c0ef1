package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

const (
	endpointsEnv     = "KVCTL_ENDPOINTS"
	cacertEnv        = "KVCTL_CACERT"
	certEnv          = "KVCTL_CERT"
	keyEnv           = "KVCTL_KEY"
	defaultEndpoint  = "127.0.0.1:7001"
	defaultTimeout   = 2 * time.Second
	outputText       = "text"
	outputJSON       = "json"
	defaultLevelFlag = "quorum"
)

// env is the process's outside world, injected so tests run kvctl in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// globalOptions holds the persistent flags and what every command shares.
type globalOptions struct {
	env

	endpoints string
	timeout   time.Duration
	output    string
	// cacert, cert and key are the TLS files (--cacert, --cert, --key);
	// empty: from $KVCTL_CACERT, $KVCTL_CERT, $KVCTL_KEY, then plain.
	cacert, cert, key string

	// started is set once cobra has parsed and validated the command line
	// and the command's own code runs: errors before that are usage errors.
	started bool
}

// run executes kvctl with args and returns the exit code.
func run(ctx context.Context, args []string, e env) int {
	g := &globalOptions{env: e}
	root := newRootCmd(g) //nolint:contextcheck // commands take ctx through cmd.Context(), set by ExecuteContextC below
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	msg := err.Error()
	if !g.started {
		err = usageError{err}
		msg = foldSuggestions(msg) + fmt.Sprintf(" (see %s --help)", cmd.CommandPath())
	}
	_, _ = fmt.Fprintln(e.stderr, "error: "+oneLine(msg))
	return exitCode(err)
}

func newRootCmd(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "kvctl",
		Short: "kvctl talks to a quorumkv cluster",
		Long: `kvctl reads and writes quorumkv keys at a chosen consistency level and
administers the cluster. It sends each command to the first endpoint that
answers.

Exit codes: 0 done; 1 get of a missing key; 2 bad usage or invalid argument
(including a wrong type for the key); 3 consistency level not met; 4 no
endpoint answered in time; 5 any other error; 6 not permitted (no or wrong
certificate, or a role without the right).

Shell completion: kvctl completion bash|zsh|fish|powershell prints the
script (see kvctl completion --help).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.started = true
			if isCompletion(cmd) || isCerts(cmd) || isOffline(cmd) {
				return nil // needs no endpoint: a bad $KVCTL_ENDPOINTS must not break completion, certs, restore or compact
			}
			return g.validate()
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.Version = versionLine("kvctl")
	f := root.PersistentFlags()
	f.StringVar(&g.endpoints, "endpoints", "", "comma-separated gRPC endpoints host:port, tried in turn (default $"+endpointsEnv+", then "+defaultEndpoint+")")
	f.DurationVar(&g.timeout, "timeout", defaultTimeout, "how long to wait for each endpoint")
	f.StringVarP(&g.output, "output", "o", outputText, "output format: text or json")
	f.StringVar(&g.cacert, "cacert", "", "the cluster's CA certificate (PEM): connect with TLS (default $"+cacertEnv+")")
	f.StringVar(&g.cert, "cert", "", "this client's certificate (PEM), with --key (default $"+certEnv+")")
	f.StringVar(&g.key, "key", "", "this client's private key (PEM), with --cert (default $"+keyEnv+")")
	root.AddCommand(
		newPutCmd(g), newGetCmd(g), newDeleteCmd(g),
		newSAddCmd(g), newSRemCmd(g), newSMembersCmd(g),
		newMembersCmd(g), newRingCmd(g), newStatusCmd(g),
		newRepairCmd(g), newLeaveCmd(g), newRemoveCmd(g),
		newKeyringCmd(g), newBenchCmd(g), newCertsCmd(g),
		newBackupCmd(g), newRestoreCmd(g), newCompactCmd(g),
	)
	return root
}

// foldSuggestions folds the "Did you mean this?" block cobra appends to an
// unknown command's error onto the one error line:
// unknown command "gett" for "kvctl"; did you mean get?
func foldSuggestions(msg string) string {
	head, list, ok := strings.Cut(msg, "\n\nDid you mean this?\n")
	if !ok {
		return msg
	}
	return head + "; did you mean " + strings.Join(strings.Fields(list), " or ") + "?"
}

// isCompletion reports whether cmd is cobra's completion command (or one
// of its shells) or the hidden request the completion scripts send.
func isCompletion(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return c.Parent() != nil && !c.Parent().HasParent()
		}
	}
	return false
}

// isCerts reports whether cmd is certs or one of its subcommands: they
// write files and talk to no node.
func isCerts(cmd *cobra.Command) bool {
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		if c.Name() == "certs" && !c.Parent().HasParent() {
			return true
		}
	}
	return false
}

// validate checks the persistent flags.
func (g *globalOptions) validate() error {
	switch g.output {
	case outputText, outputJSON:
	default:
		return usageError{fmt.Errorf("-o: unknown output format %q: use text or json", g.output)}
	}
	if g.timeout <= 0 {
		return usageError{fmt.Errorf("--timeout: must be positive, got %s", g.timeout)}
	}
	eps := g.endpointList()
	if len(eps) == 0 {
		return usageError{errors.New("--endpoints: no endpoint given")}
	}
	for _, ep := range eps {
		if err := client.CheckEndpoint(ep); err != nil {
			from := ""
			if strings.TrimSpace(g.endpoints) == "" {
				from = " (from $" + endpointsEnv + ")"
			}
			return usageError{fmt.Errorf("--endpoints: %w%s", err, from)}
		}
	}
	cacert, cert, key := g.tlsFiles()
	if (cert == "") != (key == "") {
		return usageError{errors.New("--cert and --key go together: give both or neither (or $" + certEnv + " and $" + keyEnv + ")")}
	}
	if cert != "" && cacert == "" {
		return usageError{errors.New("--cert needs --cacert (or $" + cacertEnv + "): the CA the node's certificate is checked against")}
	}
	return nil
}

// tlsFiles resolves --cacert, --cert and --key, then their variables.
func (g *globalOptions) tlsFiles() (cacert, cert, key string) {
	pick := func(flag, env string) string {
		if flag == "" && g.getenv != nil {
			return strings.TrimSpace(g.getenv(env))
		}
		return flag
	}
	return pick(g.cacert, cacertEnv), pick(g.cert, certEnv), pick(g.key, keyEnv)
}

// endpointList resolves --endpoints, then $KVCTL_ENDPOINTS, then the default.
func (g *globalOptions) endpointList() []string {
	spec := g.endpoints
	if strings.TrimSpace(spec) == "" && g.getenv != nil {
		spec = g.getenv(endpointsEnv)
	}
	if strings.TrimSpace(spec) == "" {
		spec = defaultEndpoint
	}
	var out []string
	for _, ep := range strings.Split(spec, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			out = append(out, ep)
		}
	}
	return out
}

// client connects to the endpoints; the caller closes it.
func (g *globalOptions) client(extra ...client.Option) (*client.Client, error) {
	return g.clientFor(g.endpointList(), extra...)
}

// clientFor connects to endpoints with the global options; the caller
// closes it.
func (g *globalOptions) clientFor(endpoints []string, extra ...client.Option) (*client.Client, error) {
	opts := []client.Option{client.WithTimeout(g.timeout)}
	if cacert, cert, key := g.tlsFiles(); cacert != "" {
		cfg, err := security.ClientConfig(cacert, cert, key)
		if err != nil {
			return nil, usageError{fmt.Errorf("TLS: %w", err)}
		}
		opts = append(opts, client.WithTLS(cfg))
	}
	return client.New(endpoints, append(opts, extra...)...)
}

func (g *globalOptions) json() bool { return g.output == outputJSON }

// exactArgs and minArgs replace cobra's validators with messages that name
// the expected arguments.
func exactArgs(n int, spec string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s: expected %s, got %s", cmd.CommandPath(), spec, plural(len(args), "argument"))
		}
		return nil
	}
}

func minArgs(n int, spec string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return fmt.Errorf("%s: expected %s, got %s", cmd.CommandPath(), spec, plural(len(args), "argument"))
		}
		return nil
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// consistencyFlag adds -c to a data command.
func consistencyFlag(cmd *cobra.Command, level *string) {
	cmd.Flags().StringVarP(level, "consistency", "c", defaultLevelFlag, "consistency level: one, quorum or all (any case)")
}

// parseLevel parses the -c value; a bad one is a usage error.
func parseLevel(s string) (client.Consistency, error) {
	c, err := client.ParseConsistency(s)
	if err != nil {
		return 0, usageError{err}
	}
	return c, nil
}
