// Command kvnode runs one quorumkv server: flags -> node.Config -> node.Run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/quorumkv/quorumkv/node"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errVersion) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitUsage
	}
	logger := newLogger(cfg, stderr)
	warnTestKnobs(cfg, getenv, logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := node.Run(ctx, cfg, logger); err != nil {
		logger.Error("kvnode stopped", "err", err)
		fmt.Fprintf(stderr, "error: %v\n", err)
		var fe *node.FlagError
		if errors.As(err, &fe) {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

// warnTestKnobs logs a warning for every test knob set, since each breaks a
// guarantee on purpose, and for every KVNODE_TEST_* variable, which is
// ignored. The wall clock offset is warned about by node.Run, which applies
// it.
func warnTestKnobs(cfg node.Config, getenv func(string) string, logger *slog.Logger) {
	knobs := []struct {
		flag string
		set  bool
	}{
		{"test-no-hints", cfg.TestNoHints},
		{"test-no-anti-entropy", cfg.TestNoAntiEntropy},
		{"test-no-blocking-repair", cfg.TestNoBlockingRepair},
		{"test-clock-offset", false}, // node.Run warns
	}
	for _, k := range knobs {
		if k.set {
			logger.Warn("test knob set: this node breaks guarantees on purpose", "flag", "--"+k.flag)
		}
		if v := getenv(envName(k.flag)); v != "" {
			logger.Warn("environment variable ignored: test knobs are taken from flags only",
				"var", envName(k.flag), "flag", "--"+k.flag)
		}
	}
}

func newLogger(cfg node.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// envName returns the environment variable read for a flag:
// --node-id -> KVNODE_NODE_ID.
func envName(flagName string) string {
	return "KVNODE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
