package main

import (
	"runtime/debug"

	"github.com/quorumkv/quorumkv/internal/buildinfo"
)

// versionLine is what kvnode --version prints.
func versionLine() string {
	bi, _ := debug.ReadBuildInfo()
	return buildinfo.Line("kvnode", bi)
}
