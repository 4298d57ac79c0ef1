package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// Row is one run in the report: chaos/out/report.json is a list of them.
type Row struct {
	Nemesis       string `json:"nemesis"`
	Workload      string `json:"workload"`
	Ops           int    `json:"ops"`
	OK            int    `json:"ok"`
	Failed        int    `json:"failed"`
	Indeterminate int    `json:"indeterminate"`
	Lost          int    `json:"lost"`
	Unexpected    int    `json:"unexpected"`
	// ConvergenceS is the time from the heal until every node's digest was
	// equal, in seconds; null when they never were within the deadline.
	ConvergenceS *float64 `json:"convergence_s"`
	// Verdict is pass or fail.
	Verdict string `json:"verdict"`
}

// WriteTable prints the rows as one aligned table.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "nemesis\tworkload\tops\tok\tfailed\tindeterminate\tlost\tunexpected\tconvergence\tverdict\t")
	for _, r := range rows {
		conv := "never"
		if r.ConvergenceS != nil {
			conv = fmt.Sprintf("%.1fs", *r.ConvergenceS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", r.Nemesis, r.Workload, r.Ops, r.OK, r.Failed, r.Indeterminate,
			r.Lost, r.Unexpected, conv, strings.ToUpper(r.Verdict))
	}
	return tw.Flush()
}

// WriteReport writes the rows to path as a JSON list.
func WriteReport(path string, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// countOps fills the op counts of row from a history (final reads apart).
func countOps(row *Row, ops []Op) {
	for _, op := range ops {
		if op.Final {
			continue
		}
		row.Ops++
		switch op.Outcome {
		case OK:
			row.OK++
		case Fail:
			row.Failed++
		case Indeterminate:
			row.Indeterminate++
		}
	}
}
