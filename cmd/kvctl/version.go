package main

import (
	"runtime/debug"

	"github.com/quorumkv/quorumkv/internal/buildinfo"
)

// versionLine is what kvctl --version prints.
func versionLine(name string) string {
	bi, _ := debug.ReadBuildInfo()
	return buildinfo.Line(name, bi)
}
