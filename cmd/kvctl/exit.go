package main

import (
	"errors"
	"strings"

	"github.com/quorumkv/quorumkv/client"
)

// Exit codes, as DESIGN.md fixes them.
const (
	exitOK           = 0
	exitNotFound     = 1 // get of a missing key
	exitUsage        = 2 // bad usage or invalid argument, wrong type included
	exitUnavailable  = 3 // consistency level not met (or a repair peer unreachable)
	exitNoEndpoint   = 4 // no endpoint answered in time
	exitOther        = 5
	exitNotPermitted = 6 // no or wrong certificate, or a role without the right
)

// usageError is a bad command line found by kvctl itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError is an error with its own exit code (a missing key, a repair
// that could not reach a peer).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// exitCodes maps the client's sentinel errors to exit codes.
var exitCodes = []struct {
	err  error
	code int
}{
	{client.ErrInvalidArgument, exitUsage},
	{client.ErrFailedPrecondition, exitUsage},
	{client.ErrNotFound, exitUsage}, // remove of an unknown node id
	{client.ErrUnavailable, exitUnavailable},
	{client.ErrNoEndpoint, exitNoEndpoint},
	{client.ErrPermissionDenied, exitNotPermitted},
}

// exitCode is the exit code of a command that failed with err.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	for _, c := range exitCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return exitOther
}

// oneLine folds a message onto one line, as stderr's error line must be.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
