package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// ProgressPrinter writes one progress line per report: redrawn in place on
// a terminal, one plain line each otherwise. It is safe for concurrent use.
type ProgressPrinter struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	open     bool // a line is drawn without its newline (terminal)
}

// NewProgressPrinter writes to w; terminal says whether w is a terminal.
func NewProgressPrinter(w io.Writer, terminal bool) *ProgressPrinter {
	return &ProgressPrinter{w: w, terminal: terminal}
}

// Report prints p. Give it to Run and Load as their progress function.
func (pp *ProgressPrinter) Report(p Progress) {
	line := FormatProgress(p)
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.terminal {
		fmt.Fprint(pp.w, "\r\x1b[K"+line)
		pp.open = true
		return
	}
	fmt.Fprintln(pp.w, line)
}

// Done ends the line drawn in place, if any, so what follows starts on a
// line of its own. Call it after each run.
func (pp *ProgressPrinter) Done() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.open {
		fmt.Fprintln(pp.w)
		pp.open = false
	}
}

// FormatProgress renders p on one line: phase, elapsed (of the planned
// duration or operations), last interval's ops/s and p99, errors so far.
func FormatProgress(p Progress) string {
	elapsed := p.Elapsed.Round(time.Second).String()
	switch {
	case p.Duration > 0:
		elapsed += "/" + p.Duration.String()
	case p.Ops > 0:
		elapsed += fmt.Sprintf(" (%d/%d ops)", p.Done, p.Ops)
	}
	return fmt.Sprintf("bench %-14s %-12s %9.0f ops/s  p99 %9s  errors %d",
		p.Phase, elapsed, p.OpsPerSec, FormatMicros(p.P99.Microseconds()), p.Errors)
}
