// Package doccheck holds the tests that keep the documentation (README.md,
// docs/, deploy/) in step with the code: links that resolve, the messages
// quoted in docs/operations.md's troubleshooting section present in the
// source, kvctl's global flags as kvctl --help lists them, and no
// reference to internal design notes. It has no code of its own.
package doccheck
