package cluster

import (
	"bytes"
	"context"
	"log/slog"
)

// logWriter turns memberlist's log lines ("[LEVEL] memberlist: message")
// into debug records of an slog.Logger, keeping memberlist's own level as
// an attribute.
type logWriter struct{ log *slog.Logger }

func (w *logWriter) Write(p []byte) (int, error) {
	if !w.log.Enabled(context.Background(), slog.LevelDebug) {
		return len(p), nil
	}
	line := bytes.TrimRight(p, "\r\n")
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
