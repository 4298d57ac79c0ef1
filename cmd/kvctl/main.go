// Command kvctl is the command-line client of quorumkv: reads and writes of
// registers and sets at a chosen consistency level, and the cluster's
// administration (members, ring, status, repair, leave, remove). See
// DESIGN.md, "Interfaces / kvctl", for the contract: flags, JSON output and
// exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}
