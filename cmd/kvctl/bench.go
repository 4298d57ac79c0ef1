package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/quorumkv/quorumkv/bench"
	"github.com/quorumkv/quorumkv/client"
)

type benchOptions struct {
	*globalOptions
	workloads    string
	levels       string
	clients      int
	duration     time.Duration
	ops          int64
	keys         int64
	valueSize    int
	distribution string
	seed         uint64
	load         bool
	rate         float64
	plot         string
	benchfmt     bool
	report       string
}

func newBenchCmd(g *globalOptions) *cobra.Command {
	o := &benchOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load the cluster with a YCSB-style workload and report throughput and latency",
		Long: `Run workloads against the cluster through the token-aware Go client and
report, per workload and consistency level, the successful operations, the
throughput and the latency percentiles (HdrHistogram), with errors counted
by kind and never as throughput.

Workloads (YCSB core): a 50% read 50% update; b 95% read 5% update; c read
only; d 95% read 5% insert, reading the latest keys; f 50% read 50%
read-modify-write (a get, then a put with its context token); write put
only; sadd set adds. --workload and --consistency take comma lists: every
combination runs in turn, each its own result row.

--load first writes every key once. By default each of --clients clients
issues its next operation when the last one answered (closed loop); with
--rate N operations are due at N per second and each latency is measured
from when its operation was due, so a stall shows in the percentiles
instead of hiding (no coordinated omission).

Progress goes to stderr every second; stdout gets the table, or one JSON
object with -o json, or Go benchmark lines with --benchfmt (for benchstat).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.Flags().Changed("duration"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.workloads, "workload", "a", "workloads, comma-separated: "+strings.ReplaceAll(bench.WorkloadNames(), "|", ", "))
	f.StringVarP(&o.levels, "consistency", "c", defaultLevelFlag, "consistency levels, comma-separated: one, quorum, all")
	f.IntVar(&o.clients, "clients", 16, "concurrent clients (operations in flight)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long each run lasts (with --ops and no --duration: until --ops)")
	f.Int64Var(&o.ops, "ops", 0, "operations per run (0: no bound but --duration)")
	f.Int64Var(&o.keys, "keys", 10000, "size of the key space")
	f.IntVar(&o.valueSize, "value-size", 100, "bytes per value written")
	f.StringVar(&o.distribution, "distribution", "", "key distribution: uniform, zipfian or latest (default uniform; latest for workload d)")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the random choices")
	f.BoolVar(&o.load, "load", false, "write every key once before the runs")
	f.Float64Var(&o.rate, "rate", 0, "open loop: operations per second (0: closed loop)")
	f.StringVar(&o.plot, "plot", "", "write throughput and p99 over time to this SVG file")
	f.BoolVar(&o.benchfmt, "benchfmt", false, "print Go benchmark-format lines instead of the table (for benchstat)")
	f.StringVar(&o.report, "report", "", "also write the JSON report to this file")
	return cmd
}

// plan is the validated command line.
type plan struct {
	workloads []bench.Workload
	levels    []client.Consistency
	base      bench.Config
}

func (o *benchOptions) parse(durationSet bool) (plan, error) {
	var p plan
	for _, s := range strings.Split(o.workloads, ",") {
		w, err := bench.ParseWorkload(s)
		if err != nil {
			return p, usageError{fmt.Errorf("--workload: %w", err)}
		}
		p.workloads = append(p.workloads, w)
	}
	for _, s := range strings.Split(o.levels, ",") {
		c, err := client.ParseConsistency(strings.TrimSpace(s))
		if err != nil {
			return p, usageError{fmt.Errorf("--consistency: %w", err)}
		}
		p.levels = append(p.levels, c)
	}
	var dist bench.Distribution
	if o.distribution != "" {
		d, err := bench.ParseDistribution(o.distribution)
		if err != nil {
			return p, usageError{fmt.Errorf("--distribution: %w", err)}
		}
		dist = d
	}
	duration := o.duration
	if o.ops > 0 && !durationSet {
		duration = 0
	}
	switch {
	case o.clients < 1:
		return p, usageError{fmt.Errorf("--clients: must be at least 1, got %d", o.clients)}
	case duration < 0:
		return p, usageError{fmt.Errorf("--duration: must be positive, got %s", o.duration)}
	case o.ops < 0:
		return p, usageError{fmt.Errorf("--ops: must be 0 or more, got %d", o.ops)}
	case duration == 0 && o.ops == 0:
		return p, usageError{errors.New("--duration, --ops: one of them must be positive")}
	case o.keys < 1:
		return p, usageError{fmt.Errorf("--keys: must be at least 1, got %d", o.keys)}
	case o.valueSize < 0:
		return p, usageError{fmt.Errorf("--value-size: must be 0 or more, got %d", o.valueSize)}
	case o.rate < 0:
		return p, usageError{fmt.Errorf("--rate: must be 0 (closed loop) or more, got %g", o.rate)}
	case o.benchfmt && o.json():
		return p, usageError{errors.New("--benchfmt: cannot be used with -o json")}
	case o.plot != "" && !strings.HasSuffix(strings.ToLower(o.plot), ".svg"):
		return p, usageError{fmt.Errorf("--plot: must name an .svg file, got %q", o.plot)}
	}
	p.base = bench.Config{Clients: o.clients, Duration: duration, Ops: o.ops, Keys: o.keys, ValueSize: o.valueSize,
		Distribution: dist, Rate: o.rate, Seed: o.seed}
	return p, nil
}

func (o *benchOptions) run(ctx context.Context, durationSet bool) error {
	p, err := o.parse(durationSet)
	if err != nil {
		return err
	}
	c, err := o.client(client.WithTokenAware(0))
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	// Fail fast when no endpoint answers, rather than counting every
	// operation as a timeout.
	if _, err := c.Status(ctx); err != nil {
		return err
	}

	rep := &bench.Report{Started: time.Now().UTC(), Config: o.reportConfig(p)}
	pp := bench.NewProgressPrinter(o.stderr, isTerminal(o.stderr))
	if o.load {
		// Loaded at QUORUM whatever the runs use, so every load is alike.
		res, err := bench.Load(ctx, bench.ClientStore{Client: c, Level: client.Quorum}, o.config(p, bench.WorkloadWrite, client.Quorum), pp.Report)
		pp.Done()
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		rep.Load = &res
	}
	for _, w := range p.workloads {
		for _, level := range p.levels {
			res, err := bench.Run(ctx, bench.ClientStore{Client: c, Level: level}, o.config(p, w, level), pp.Report)
			pp.Done()
			if err != nil {
				// Interrupted: report what was measured, the cut run
				// included, then fail.
				rep.Results = append(rep.Results, res)
				return errors.Join(o.output(rep), fmt.Errorf("workload %s at %s: %w (the results so far are printed)", w.Name, level, err))
			}
			rep.Results = append(rep.Results, res)
		}
	}
	return o.output(rep)
}

func (o *benchOptions) config(p plan, w bench.Workload, level client.Consistency) bench.Config {
	cfg := p.base
	cfg.Workload, cfg.Consistency = w, level.String()
	return cfg
}

func (o *benchOptions) reportConfig(p plan) bench.ReportConfig {
	rc := bench.ReportConfig{Clients: p.base.Clients, Ops: p.base.Ops, Keys: p.base.Keys, ValueSize: p.base.ValueSize,
		Distribution: string(p.base.Distribution), Rate: p.base.Rate, Seed: p.base.Seed, Endpoints: o.endpointList()}
	if p.base.Duration > 0 {
		rc.Duration = p.base.Duration.String()
	}
	for _, w := range p.workloads {
		rc.Workloads = append(rc.Workloads, w.Name)
	}
	for _, l := range p.levels {
		rc.Consistency = append(rc.Consistency, l.String())
	}
	return rc
}

// output writes the report: the files asked for, then stdout.
func (o *benchOptions) output(rep *bench.Report) error {
	if o.report != "" {
		if err := writeFile(o.report, rep.WriteJSON); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	if o.plot != "" {
		if err := writeFile(o.plot, rep.WritePlot); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	switch {
	case o.json():
		return rep.WriteJSON(o.stdout)
	case o.benchfmt:
		return rep.WriteBenchfmt(o.stdout)
	}
	return rep.WriteTable(o.stdout)
}

// writeFile creates path and fills it with write.
func writeFile(path string, write func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// isTerminal reports whether w is a terminal, where the progress line is
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
