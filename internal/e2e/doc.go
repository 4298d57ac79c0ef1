// Package e2e holds end-to-end tests that build the real kvnode and kvctl
// binaries and drive them as a user would.
package e2e
