package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/node"
)

// testKnobPrefix starts the name of every test knob: hidden from --help,
// taken from the command line only (never from the environment), and
// warned about at start when set.
const testKnobPrefix = "test-"

func isTestKnob(flagName string) bool { return strings.HasPrefix(flagName, testKnobPrefix) }

// versionFlag prints the version and exits; it reads no environment
// variable.
const versionFlag = "version"

// errVersion is what parseFlags returns for --version, after printing the
// version line on stdout.
var errVersion = errors.New("version requested")

// fromEnv reports whether a flag also reads its KVNODE_* variable.
func fromEnv(flagName string) bool { return !isTestKnob(flagName) && flagName != versionFlag }

// parseFlags reads flags, then the KVNODE_* environment for every flag not
// given on the command line, test knobs excepted, then the --config file
// for every flag set by neither. Errors name the flag (or the file's key).
// --help prints the help on stdout and returns flag.ErrHelp; --version
// prints the version line on stdout and returns errVersion.
func parseFlags(args []string, getenv func(string) string, stdout io.Writer) (node.Config, error) {
	cfg := node.DefaultConfig()
	fs, version, configPath := newFlagSet(&cfg)

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stdout)
			return cfg, err
		}
		return cfg, fmt.Errorf("%s (see kvnode --help)", strings.TrimPrefix(err.Error(), "invalid value "))
	}
	if *version {
		if _, err := fmt.Fprintln(stdout, versionLine()); err != nil {
			return cfg, err
		}
		return cfg, errVersion
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q: kvnode takes flags only (see kvnode --help)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] || !fromEnv(f.Name) {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			given[f.Name] = true
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("--%s: %s=%q: %w", f.Name, envName(f.Name), v, e)
			}
		}
	})
	cfg.Given = given
	if err != nil || *configPath == "" {
		return cfg, err
	}
	values, err := configValues(*configPath, fs)
	if err != nil {
		return cfg, err
	}
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := values[f.Name]
		if err != nil || given[f.Name] || !ok {
			return
		}
		given[f.Name] = true
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("--%s: --config %s: key %q = %q: %w", f.Name, *configPath, f.Name, v, e)
		}
	})
	return cfg, err
}

// newFlagSet defines every kvnode flag on a new FlagSet, bound to cfg (whose
// values are the defaults), and returns it with the --version and --config
// values. parseFlags parses with it; the documentation test renders
// docs/configuration.md's flag table from it.
func newFlagSet(cfg *node.Config) (fs *flag.FlagSet, version *bool, configPath *string) {
	fs = flag.NewFlagSet("kvnode", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.NodeID, "node-id", "", "node id, unique in the cluster (required)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "data directory (required)")
	fs.StringVar(&cfg.ClusterName, "cluster-name", cfg.ClusterName, "cluster name; nodes of other names cannot reach this one")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "client gRPC listen address: the client API only (peers use --peer-addr); 0.0.0.0 listens on every interface")
	fs.StringVar(&cfg.GossipAddr, "gossip-addr", cfg.GossipAddr, "gossip (memberlist) listen address, UDP and TCP; 0.0.0.0 listens on every interface")
	fs.Func("join", "comma-separated seed gossip addresses to join; without it, a node with an empty data dir creates a cluster", func(s string) error {
		cfg.Join = nil
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.Join = append(cfg.Join, a)
			}
		}
		return nil
	})
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve /metrics, /healthz and /readyz on this address (default empty: off)")
	fs.StringVar(&cfg.RESPAddr, "resp-addr", "", "Redis protocol (RESP2/RESP3) listen address (default empty: off); with --tls-* it requires TLS and a client certificate")
	fs.StringVar(&cfg.RESPConsistency, "resp-consistency", cfg.RESPConsistency, "default consistency level of RESP connections (QKV.CONSISTENCY changes a connection's): one, quorum or all")
	fs.IntVar(&cfg.RESPMaxClients, "resp-max-clients", cfg.RESPMaxClients, "most RESP connections at once; one more is refused")
	fs.StringVar(&cfg.PeerAddr, "peer-addr", "", "node-to-node gRPC listen address: replication, anti-entropy, streaming, join and forwarded requests; node certificates only with TLS (default: the --grpc-addr host on an ephemeral port)")
	fs.StringVar(&cfg.AdvertiseGRPCAddr, "advertise-grpc-addr", "", "client gRPC address other machines and token-aware clients reach this node at, published in the member table; never 0.0.0.0 (default: --grpc-addr; for a listener on every interface, the host of the first of --grpc-addr, --advertise-gossip-addr, --gossip-addr that names one, on the bound port)")
	fs.StringVar(&cfg.AdvertisePeerAddr, "advertise-peer-addr", "", "peer address other machines reach this node at, published in the member table (default: the bound --peer-addr port on the --advertise-grpc-addr host, by default the bound host)")
	fs.StringVar(&cfg.AdvertiseGossipAddr, "advertise-gossip-addr", "", "gossip address other machines reach this node at, advertised by memberlist and published in the member table (default: --gossip-addr, or the advertised gRPC host on its port)")
	fs.StringVar(&cfg.AdvertiseRESPAddr, "advertise-resp-addr", "", "RESP address other machines reach this node at, published in the member table (default: --resp-addr, or the advertised gRPC host on its port)")
	fs.StringVar(&cfg.Replace, "replace", "", "id of a removed or dead node whose place this new node takes: it joins with that node's ring tokens and so replicates exactly its partitions (a dead node is marked removed); needs --join, an empty data dir and the replaced node's --vnodes")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "this node's certificate (PEM, its id in a quorumkv://node/ID URI SAN); with --tls-key and --tls-ca, every gRPC connection is mutual TLS 1.3 and roles come from the caller's certificate; files are reread when they change")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "this node's private key (PEM)")
	fs.StringVar(&cfg.TLSCA, "tls-ca", "", "the cluster's CA certificate (PEM): callers and peers must present a certificate it signed")
	fs.StringVar(&cfg.GossipKeyFile, "gossip-key-file", "", "gossip encryption keys (one base64 32-byte key per line), the first one primary; required with --tls-*")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "allow plain traffic (no TLS) on addresses other than loopback, which kvnode refuses otherwise")
	fs.IntVar(&cfg.ReplicationFactor, "replication-factor", cfg.ReplicationFactor, "replicas per key, N (capped at the number of normal members); a cluster setting: left out, a joining node takes its cluster's")
	fs.IntVar(&cfg.VNodes, "vnodes", cfg.VNodes, "ring tokens of this node (its weight)")
	fs.Func("conflict", "conflict policy of a new cluster: lww or siblings (default lww); left out, a joining node takes its cluster's", func(s string) error {
		p, ok := conflict.ParsePolicy(s)
		if !ok {
			return fmt.Errorf("%q is not a conflict policy: use lww or siblings", s)
		}
		cfg.Conflict = p
		return nil
	})
	fs.DurationVar(&cfg.AntiEntropyInterval, "anti-entropy-interval", cfg.AntiEntropyInterval, "how often anti-entropy compares and repairs this node's partitions with every peer")
	fs.DurationVar(&cfg.MaxHintWindow, "max-hint-window", cfg.MaxHintWindow, "no hints for a node down longer than this; its old hints are dropped")
	fs.DurationVar(&cfg.TombstoneGrace, "tombstone-grace", cfg.TombstoneGrace, "purge tombstones older than this once every replica holds them; must exceed --max-hint-window")
	fs.DurationVar(&cfg.MaxClockOffset, "max-clock-offset", cfg.MaxClockOffset, "refuse timestamps further ahead of the local clock than this")
	fs.Float64Var(&cfg.ReadRepairChance, "read-repair-chance", cfg.ReadRepairChance, "share of ONE reads after which the other replicas are checked and repaired in the background, 0 to 1")
	fs.IntVar(&cfg.MaxKeyBytes, "max-key-bytes", cfg.MaxKeyBytes, "largest key accepted, in bytes; a cluster setting: left out, a joining node takes its cluster's")
	fs.IntVar(&cfg.MaxValueBytes, "max-value-bytes", cfg.MaxValueBytes, "largest value or set member accepted, in bytes; a cluster setting: left out, a joining node takes its cluster's")
	fs.IntVar(&cfg.MaxObjectBytes, "max-object-bytes", cfg.MaxObjectBytes, "largest object accepted: all its siblings' values and set members together, in bytes; a cluster setting: left out, a joining node takes its cluster's")
	fs.IntVar(&cfg.MaxSiblings, "max-siblings", cfg.MaxSiblings, "most siblings a put may leave under --conflict siblings")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "on SIGTERM, how long requests in flight may take to finish")
	fs.Func("log-level", "log level: debug, info, warn or error (default info)", func(s string) error {
		return cfg.LogLevel.UnmarshalText([]byte(s))
	})
	fs.Func("log-format", "log format: text or json (default text)", func(s string) error {
		switch s {
		case "text", "json":
			cfg.LogJSON = s == "json"
			return nil
		}
		return fmt.Errorf("%q is not a log format: use text or json", s)
	})
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve /debug/pprof on --metrics-addr")
	version = fs.Bool(versionFlag, false, "print the version (module version, VCS commit, Go version) and exit")
	configPath = fs.String(configFlag, "", "read flag values from this TOML `file`, one key per flag (node-id = \"n1\"); flags and KVNODE_* variables override it")
	// Test knobs: for the chaos suite and tests only, not listed in --help.
	fs.DurationVar(&cfg.TestClockOffset, "test-clock-offset", 0, "")
	fs.BoolVar(&cfg.TestNoBlockingRepair, "test-no-blocking-repair", false, "")
	fs.BoolVar(&cfg.TestNoHints, "test-no-hints", false, "")
	fs.BoolVar(&cfg.TestNoAntiEntropy, "test-no-anti-entropy", false, "")
	// Parse calls Usage for -h and --help and for every bad flag: the help
	// is printed here, once, and only when asked for; a bad flag is one
	// error line.
	fs.Usage = func() {}
	return fs, version, configPath
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `kvnode runs one quorumkv node.

Usage:
  kvnode --node-id ID --data-dir DIR [flags]

Every flag can also be set by an environment variable: --node-id by
KVNODE_NODE_ID, --data-dir by KVNODE_DATA_DIR, and so on; a flag on the
command line wins. --config FILE reads the values of flags set by neither
from a TOML file, one key per flag named as the flag (node-id = "n1",
vnodes = 64, anti-entropy-interval = "30s", join = ["10.0.0.1:7101"]); a
key that is not a flag is refused. A bad value exits 2 naming the flag.
SIGTERM or SIGINT stops the node gracefully within --shutdown-timeout and
exits 0.

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		if isTestKnob(f.Name) {
			return // test knobs stay out of the help
		}
		name, help := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n      %s", help)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && !strings.Contains(help, "(default") {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		if fromEnv(f.Name) {
			fmt.Fprintf(w, " [$%s]", envName(f.Name))
		}
		fmt.Fprintln(w)
	})
}
