package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestLine(t *testing.T) {
	tests := map[string]struct {
		bi   *debug.BuildInfo
		want string
	}{
		"no build info": {nil, "kvnode unknown commit unknown unknown"},
		"stamped": {
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "abc1234def5678"}, {Key: "vcs.modified", Value: "false"},
			}},
			"kvnode (devel) commit abc1234 go1.26.8",
		},
		"dirty tree": {
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "abc1234def5678"}, {Key: "vcs.modified", Value: "true"},
			}},
			"kvnode v1.2.3 commit abc1234-dirty go1.26.8",
		},
		"no vcs stamping": {
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}},
			"kvnode (devel) commit unknown go1.26.8",
		},
		"short revision": {
			&debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}},
			"kvnode unknown commit abc go1.26.8",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Line("kvnode", tt.bi); got != tt.want {
				t.Errorf("Line = %q, want %q", got, tt.want)
			}
		})
	}
}
