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
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
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
