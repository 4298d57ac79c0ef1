package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"

	"github.com/quorumkv/quorumkv/internal/lograte"
)

// logWriter turns memberlist's log lines ("[LEVEL] memberlist: message")
// into debug records of an slog.Logger, keeping memberlist's own level as
// an attribute. The lines that say a node of another cluster name, or
// with other gossip keys, tried to reach this one also become warnings,
// at most one per cause and interval (limit): memberlist refuses such
// gossip before this package sees it.
type logWriter struct {
	log         *slog.Logger
	limit       *lograte.Limiter // nil: no warnings
	clusterName string
}

var (
	labelRE = regexp.MustCompile(`unacceptable label "([^"]*)"`)
	fromRE  = regexp.MustCompile(`from=(\S+)`)
)

// keyMismatches are memberlist's phrases for gossip this node could not
// read or accept for its gossip keys, with what they mean here.
var keyMismatches = []struct{ phrase, msg string }{
	{"encryption is configured but remote state is not encrypted", "refused gossip from a node without a gossip key: it needs the cluster's --gossip-key-file"},
	{"remote state is encrypted and encryption is not configured", "refused encrypted gossip: this node has no gossip key (--gossip-key-file)"},
	{"no installed keys could decrypt", "refused gossip sealed with a key this node does not hold: the sender's --gossip-key-file is not the cluster's"},
}

func (w *logWriter) Write(p []byte) (int, error) {
	line := bytes.TrimRight(p, "\r\n")
	w.warnMismatch(line)
	if !w.log.Enabled(context.Background(), slog.LevelDebug) {
		return len(p), nil
	}
	level := ""
	if len(line) > 0 && line[0] == '[' {
		if i := bytes.IndexByte(line, ']'); i > 0 {
			level = string(line[1:i])
			line = bytes.TrimLeft(line[i+1:], " ")
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	w.log.Debug(string(line), "component", "memberlist", "memberlist_level", level)
	return len(p), nil
}

// warnMismatch logs a rate-limited warning for a line saying memberlist
// refused gossip of another cluster name or other gossip keys.
func (w *logWriter) warnMismatch(line []byte) {
	if w.limit == nil {
		return
	}
	from := ""
	if m := fromRE.FindSubmatch(line); m != nil {
		from = string(m[1])
	}
	if m := labelRE.FindSubmatch(line); m != nil {
		w.limit.Log(context.Background(), w.log, slog.LevelWarn, "label "+string(m[1]),
			"refused gossip from a node of another cluster name: it cannot join this cluster",
			"its_cluster_name", string(m[1]), "cluster_name", w.clusterName, "from", from)
		return
	}
	for _, k := range keyMismatches {
		if bytes.Contains(line, []byte(k.phrase)) {
			w.limit.Log(context.Background(), w.log, slog.LevelWarn, "gossip keys "+k.phrase, k.msg, "from", from)
			return
		}
	}
}
