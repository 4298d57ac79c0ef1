// Command chaos is quorumkv's partition and crash suite: it runs kvnode
// processes in network namespaces of their own, injects faults on a
// deterministic schedule (a nemesis: partitions, crashes, pauses, clock
// skew, or ring changes: join, leave, remove), drives a workload through
// the Go client from outside the faults, records every operation, and
// checks the history against DESIGN.md's guarantees: convergence of every
// replica within two anti-entropy intervals of the heal, no lost or
// unexpected set member, linearizable registers under QUORUM/QUORUM with
// lww (porcupine), read-modify-writes that beat clock skew, siblings that
// are kept or causally superseded, and no timestamp accepted beyond the
// clock offset.
//
// Without -nemesis and -workload it runs the suite: every nemesis with the
// set and register workloads, and the siblings workload with kill,
// isolate and ring. One run is reproduced with
//
//	go run ./chaos -seed N -duration 2m -nemesis bridge -workload register
//
// It needs root (namespaces, veth links, nftables) and prints one table,
// writes chaos/out/report.json and each run's history, node logs and
// checker output under chaos/out/NEMESIS-WORKLOAD/, and exits 1 if any run
// found a violation, 2 on bad usage, 3 if the hosts could not be made.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// suiteSiblingsNemeses are the nemeses the suite runs the siblings
// workload with (it has a cluster of its own).
var suiteSiblingsNemeses = []string{"kill", "isolate", "ring"}

// Workloads returns a fresh instance of every workload, by name.
func Workloads() map[string]func() Workload {
	return map[string]func() Workload{
		"set":      func() Workload { return &setWorkload{} },
		"register": func() Workload { return newRegisterWorkload() },
		"siblings": func() Workload { return newSiblingsWorkload() },
	}
}

var workloadOrder = []string{"set", "register", "siblings"}

type options struct {
	seed       uint64
	duration   time.Duration
	nemeses    string
	workloads  string
	out        string
	kvnode     string
	kvctl      string
	aeInterval time.Duration
	rate       float64
	args       string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the schedules and workloads (0: from the time; printed)")
	fs.DurationVar(&o.duration, "duration", 25*time.Second, "how long each run's workload and nemesis last")
	fs.StringVar(&o.nemeses, "nemesis", "all", "comma-separated nemeses, or all: "+strings.Join(NemesisNames(), ", "))
	fs.StringVar(&o.workloads, "workload", "all", "comma-separated workloads, or all: "+strings.Join(workloadOrder, ", "))
	fs.StringVar(&o.out, "out", "chaos/out", "output directory; what earlier runs wrote there is removed at start")
	fs.StringVar(&o.kvnode, "kvnode", "", "kvnode binary (default: built from ./cmd/kvnode, without -race)")
	fs.StringVar(&o.kvctl, "kvctl", "", "kvctl binary, which the ring nemesis runs (default: built from ./cmd/kvctl)")
	fs.DurationVar(&o.aeInterval, "anti-entropy-interval", 5*time.Second, "the nodes' --anti-entropy-interval; convergence is due within two")
	fs.Float64Var(&o.rate, "rate", 100, "operations per second, at most, of a run's workload")
	fs.StringVar(&o.args, "kvnode-args", "", "extra kvnode flags for every node, space-separated (test knobs)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: chaos [flags] (as root)\n\nFlags:")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nNemeses:")
		for _, n := range Nemeses {
			fmt.Fprintf(stderr, "  %-12s %s\n", n.Name, n.Doc)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	plan, err := planRuns(o.nemeses, o.workloads)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano()) & (1<<53 - 1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := clearOut(o.out); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 3
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 3
	}
	for _, b := range []struct {
		path *string
		name string
	}{{&o.kvnode, "kvnode"}, {&o.kvctl, "kvctl"}} {
		if *b.path == "" {
			if *b.path, err = buildBinary(o.out, b.name); err != nil {
				fmt.Fprintf(stderr, "error: build %s: %v\n", b.name, err)
				return 3
			}
		}
		if *b.path, err = filepath.Abs(*b.path); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return 3
		}
	}
	// One host per node any run starts: the initial ones and the spares
	// the ring nemesis's schedule joins.
	spares := 0
	for _, p := range plan {
		spares = max(spares, Spares(p.nemesis.Schedule(o.seed, o.duration, initialNodes, defaultMaxClockOffset)))
	}
	hosts, err := NewHosts(initialNodes + spares)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 3
	}
	defer func() {
		if err := hosts.Close(); err != nil {
			fmt.Fprintln(stderr, "error: remove the namespaces:", err)
		}
	}()

	fmt.Fprintf(stderr, "chaos: seed %d, %d runs of %v, hosts %s on %s, output in %s\n",
		o.seed, len(plan), o.duration, hosts.Prefix(), hosts.Subnet(), o.out)
	var rows []Row
	var results []RunResult
	start := time.Now()
	for i, p := range plan {
		if ctx.Err() != nil {
			break
		}
		t0 := time.Now()
		r := Run(ctx, RunConfig{
			Nemesis: p.nemesis, Workload: p.workload(), Seed: o.seed, Duration: o.duration,
			KVNode: o.kvnode, KVCtl: o.kvctl, Hosts: hosts, OutDir: filepath.Join(o.out, p.nemesis.Name+"-"+p.name),
			AntiEntropyInterval: o.aeInterval, Rate: o.rate, Args: strings.Fields(o.args),
		})
		fmt.Fprintf(stderr, "chaos: run %d/%d %s/%s: %s in %.0fs\n", i+1, len(plan), p.nemesis.Name, p.name,
			r.Row.Verdict, time.Since(t0).Seconds())
		rows = append(rows, r.Row)
		results = append(results, r)
	}
	if err := WriteTable(stdout, rows); err != nil {
		fmt.Fprintln(stderr, "error:", err)
	}
	report := filepath.Join(o.out, "report.json")
	if err := WriteReport(report, rows); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	for _, r := range results {
		for _, n := range r.Notes {
			fmt.Fprintf(stdout, "%s/%s: %s\n", r.Row.Nemesis, r.Row.Workload, n)
		}
	}
	failed := 0
	for _, r := range results {
		if r.Row.Verdict == "pass" {
			continue
		}
		failed++
		fmt.Fprintf(stdout, "\nFAIL %s/%s (reproduce: %s):\n", r.Row.Nemesis, r.Row.Workload, r.Reproduce)
		for j, p := range r.Problems {
			if j == 20 {
				fmt.Fprintf(stdout, "  ... and %d more (see %s)\n", len(r.Problems)-20, filepath.Join(o.out, r.Row.Nemesis+"-"+r.Row.Workload, "result.json"))
				break
			}
			fmt.Fprintf(stdout, "  %s\n", p)
		}
	}
	fmt.Fprintf(stdout, "\n%d runs, %d failed, in %s; seed %d; report %s\n", len(rows), failed,
		time.Since(start).Round(time.Second), o.seed, report)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "error: interrupted")
		return 1
	}
	if failed > 0 || len(rows) < len(plan) {
		return 1
	}
	return 0
}

// plannedRun is one entry of the suite.
type plannedRun struct {
	nemesis  *Nemesis
	name     string
	workload func() Workload
}

// planRuns expands the -nemesis and -workload lists. With both "all", the
// siblings workload runs only with suiteSiblingsNemeses.
func planRuns(nemeses, workloads string) ([]plannedRun, error) {
	var ns []*Nemesis
	if nemeses == "all" {
		ns = Nemeses
	} else {
		for _, name := range strings.Split(nemeses, ",") {
			n := NemesisNamed(strings.TrimSpace(name))
			if n == nil {
				return nil, fmt.Errorf("unknown nemesis %q: use %s or all", name, strings.Join(NemesisNames(), ", "))
			}
			ns = append(ns, n)
		}
	}
	ws := workloadOrder
	if workloads != "all" {
		ws = nil
		for _, name := range strings.Split(workloads, ",") {
			name = strings.TrimSpace(name)
			if _, ok := Workloads()[name]; !ok {
				return nil, fmt.Errorf("unknown workload %q: use %s or all", name, strings.Join(workloadOrder, ", "))
			}
			ws = append(ws, name)
		}
	}
	var plan []plannedRun
	for _, n := range ns {
		for _, w := range ws {
			if w == "siblings" && nemeses == "all" && workloads == "all" && !slices.Contains(suiteSiblingsNemeses, n.Name) {
				continue
			}
			plan = append(plan, plannedRun{nemesis: n, name: w, workload: Workloads()[w]})
		}
	}
	return plan, nil
}

// buildBinary builds cmd/name (without -race) into dir/bin.
func buildBinary(dir, name string) (string, error) {
	out := filepath.Join(dir, "bin", name)
	cmd := exec.Command("go", "build", "-o", out, "github.com/quorumkv/quorumkv/cmd/"+name)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", err
	}
	return out, nil
}

// clearOut removes what earlier runs wrote in dir (the report, the built
// kvnode, the runs' directories) and nothing else, so a mistaken -out
// loses no one's files.
func clearOut(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	ours := map[string]bool{"report.json": true, "bin": true}
	for _, n := range NemesisNames() {
		for _, w := range workloadOrder {
			ours[n+"-"+w] = true
		}
	}
	for _, e := range entries {
		if ours[e.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
