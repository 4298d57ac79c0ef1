// Package buildinfo renders the one-line version both binaries print for
// --version: the main module's version, the VCS commit and the Go version,
// all read from the build information the Go toolchain embeds. It owns
// nothing else.
package buildinfo

import (
	"runtime/debug"
)

// shortCommit is how many hex digits of the commit the line shows.
const shortCommit = 7

// Line returns "NAME VERSION commit COMMIT GOVERSION", for instance
// "kvnode (devel) commit abc1234 go1.26.8". COMMIT is "unknown" when the
// binary was built without VCS stamping (-buildvcs=false, or outside a
// repository) and carries "-dirty" when the work tree had changes. A nil
// bi (no build information) reports every part as "unknown".
func Line(name string, bi *debug.BuildInfo) string {
	version, commit, goVersion := "unknown", "unknown", "unknown"
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > shortCommit {
					commit = commit[:shortCommit]
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit != "unknown" {
			commit += "-dirty"
		}
	}
	return name + " " + version + " commit " + commit + " " + goVersion
}
