package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Fault is one planned fault of a schedule: injected at Start, healed at
// Heal (both since the run started).
type Fault struct {
	Start time.Duration `json:"start"`
	Heal  time.Duration `json:"heal"`
	// Node is the target (0-based) of the nemeses that pick one; -1 for
	// the others.
	Node int `json:"node"`
	// Offset is the clock offset of the skew nemeses.
	Offset time.Duration `json:"offset,omitempty"`
	// Join, for the ring nemesis, is the node (0-based, beyond the initial
	// ones) started at Start to join the cluster; zero for the others.
	Join int `json:"join,omitempty"`
	// Exit, for the ring nemesis, is how Node goes at Heal: "leave" (kvctl
	// leave --wait) or "remove" (kill -9, then kvctl remove).
	Exit string `json:"exit,omitempty"`
}

// Nemesis injects one kind of fault.
type Nemesis struct {
	Name string
	// Doc says what the nemesis does, for -help.
	Doc string
	// Skewed: node clocks disagree during its faults.
	Skewed bool
	// minLen and maxLen bound a fault's drawn duration; capLen, when set,
	// bounds it even when the last fault is stretched to the run's end.
	minLen, maxLen, capLen time.Duration
	// tail, when set, is the time a schedule leaves after its last heal:
	// no fault is stretched to the run's end, so that what a heal does
	// happens while the workload runs.
	tail time.Duration
	// pick fills the fault's target and offset.
	pick func(rng *rand.Rand, f *Fault, nodes int, maxOffset time.Duration)
	// plan, when set, fills in the faults once all are drawn, for a
	// nemesis whose faults depend on those before them.
	plan func(rng *rand.Rand, faults []Fault, nodes int)
	// start injects f; heal undoes it. Each returns what it did, in words.
	start, heal func(c *Cluster, f Fault) (string, error)
}

// between draws a duration in [lo, hi].
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

func pickNode(rng *rand.Rand, f *Fault, nodes int, _ time.Duration) { f.Node = rng.IntN(nodes) }

// fixed is the pick of the nemeses whose faults name their nodes.
func fixed(_ *rand.Rand, f *Fault, _ int, _ time.Duration) { f.Node = -1 }

// Nemeses lists every nemesis, in the order the suite runs them.
var Nemeses = []*Nemesis{
	{
		Name: "isolate", Doc: "cut one node (chosen per fault) from the others, both ways",
		minLen: 3 * time.Second, maxLen: 6 * time.Second, pick: pickNode,
		start: func(c *Cluster, f Fault) (string, error) {
			return fmt.Sprintf("isolate %s", ID(f.Node)), isolate(c, f.Node)
		},
		heal: healNet,
	},
	{
		Name: "bridge", Doc: "n1-n2 and n2-n3 connected, n1-n3 cut",
		minLen: 3 * time.Second, maxLen: 6 * time.Second, pick: fixed,
		start: func(c *Cluster, _ Fault) (string, error) {
			return "cut n1-n3 (n2 bridges)", cut(c, 0, 2)
		},
		heal: healNet,
	},
	{
		Name: "one-way", Doc: "n1 can send to n2 and n3 but not receive from them",
		minLen: 3 * time.Second, maxLen: 6 * time.Second, pick: fixed,
		start: func(c *Cluster, _ Fault) (string, error) {
			var rules []string
			for j := 1; j < c.Size(); j++ {
				rules = append(rules, dropFrom(c.Hosts().IP(j))...)
			}
			return "n1 receives nothing from the others", c.Hosts().SetFilter(0, rules)
		},
		heal: healNet,
	},
	{
		Name: "kill", Doc: "kill -9 one node, restart it at heal",
		minLen: 2 * time.Second, maxLen: 5 * time.Second, pick: pickNode,
		start: func(c *Cluster, f Fault) (string, error) {
			c.Kill(f.Node)
			return "kill -9 " + ID(f.Node), nil
		},
		heal: func(c *Cluster, f Fault) (string, error) {
			return "restart " + ID(f.Node), c.Start(f.Node)
		},
	},
	{
		Name: "pause", Doc: "SIGSTOP one node, SIGCONT at heal",
		minLen: 2 * time.Second, maxLen: 5 * time.Second, pick: pickNode,
		start: func(c *Cluster, f Fault) (string, error) {
			return "pause " + ID(f.Node), c.Pause(f.Node)
		},
		heal: func(c *Cluster, f Fault) (string, error) {
			return "resume " + ID(f.Node), c.Resume(f.Node)
		},
	},
	{
		Name: "skew", Doc: "restart one node with its wall clock offset within --max-clock-offset (80%), back at heal",
		Skewed: true,
		minLen: 4 * time.Second, maxLen: 8 * time.Second,
		pick: func(rng *rand.Rand, f *Fault, nodes int, maxOffset time.Duration) {
			f.Node = rng.IntN(nodes)
			f.Offset = between(rng, maxOffset/5, maxOffset*4/5)
			if rng.IntN(2) == 0 {
				f.Offset = -f.Offset
			}
		},
		start: restartSkewed, heal: restartUnskewed,
	},
	{
		Name: "skew-beyond", Doc: "restart one node with its wall clock ahead by up to 2s beyond --max-clock-offset, for up to 10s",
		Skewed: true,
		minLen: 4 * time.Second, maxLen: 10 * time.Second, capLen: 10 * time.Second,
		pick: func(rng *rand.Rand, f *Fault, nodes int, maxOffset time.Duration) {
			f.Node = rng.IntN(nodes)
			f.Offset = maxOffset + between(rng, 200*time.Millisecond, 2*time.Second)
		},
		start: restartSkewed, heal: restartUnskewed,
	},
	ringNemesis,
}

// NemesisNamed returns the nemesis called name, nil if none is.
func NemesisNamed(name string) *Nemesis {
	for _, n := range Nemeses {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NemesisNames lists the nemeses' names.
func NemesisNames() []string {
	var out []string
	for _, n := range Nemeses {
		out = append(out, n.Name)
	}
	return out
}

// Schedule draws the faults of a run of length d from seed: quiet gaps of
// 1 to 2.5s between faults, every fault healed by d, the last one at d
// (unless stretching it there would break its bound, or the nemesis keeps
// a tail after its last heal). The same seed, nemesis and length give the
// same schedule.
func (n *Nemesis) Schedule(seed uint64, d time.Duration, nodes int, maxOffset time.Duration) []Fault {
	h := uint64(0)
	for _, c := range n.Name {
		h = h*131 + uint64(c)
	}
	rng := rand.New(rand.NewPCG(seed, h))
	out := n.draw(rng, d, nodes, maxOffset)
	if n.plan != nil {
		n.plan(rng, out, nodes)
	}
	return out
}

// draw draws the faults' times, targets and offsets (see Schedule).
func (n *Nemesis) draw(rng *rand.Rand, d time.Duration, nodes int, maxOffset time.Duration) []Fault {
	var out []Fault
	at := time.Duration(0)
	for {
		at += between(rng, time.Second, 2500*time.Millisecond)
		f := Fault{Start: at}
		l := between(rng, n.minLen, n.maxLen)
		n.pick(rng, &f, nodes, maxOffset)
		f.Heal = at + l
		if n.tail > 0 && f.Heal > d-n.tail {
			return out
		}
		if f.Heal > d {
			// The last fault lasts to the end of the run, so that the
			// final heal has work to do: a shortened one when at least
			// 2s are left, else the one before, lengthened (within
			// capLen).
			switch {
			case d-at >= 2*time.Second:
				f.Heal = d
				out = append(out, f)
			case len(out) > 0 && (n.capLen == 0 || d-out[len(out)-1].Start <= n.capLen):
				out[len(out)-1].Heal = d
			}
			return out
		}
		out = append(out, f)
		at = f.Heal
	}
}

// Spares is how many nodes beyond the initial ones schedule starts.
func Spares(schedule []Fault) int {
	n := 0
	for _, f := range schedule {
		if f.Join > 0 {
			n++
		}
	}
	return n
}

// MaxOffset is the largest clock offset of schedule (zero when none).
func MaxOffset(schedule []Fault) time.Duration {
	var m time.Duration
	for _, f := range schedule {
		m = max(m, f.Offset)
	}
	return m
}

// runSchedule injects and heals the faults of schedule on c at their times,
// recording each action in h, until the schedule ends or ctx is done; a
// fault in force then is healed. It returns the windows of the faults, as
// they happened.
func runSchedule(ctx context.Context, n *Nemesis, c *Cluster, schedule []Fault, h *History) []Window {
	var windows []Window
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	sleepUntil := func(at time.Duration) bool {
		d := time.Until(h.Time(int64(at)))
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer.Reset(d)
		select {
		case <-timer.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	act := func(kind string, f Fault, do func(*Cluster, Fault) (string, error)) {
		what, err := do(c, f)
		if err != nil {
			h.Event("error", fmt.Sprintf("%s: %v", what, err))
			return
		}
		h.Event(kind, what)
	}
	// Actions take time (a restart waits for the node to stop): a fault
	// lasts at least minFault from when its action is done, and the next
	// starts no sooner than minQuiet after the heal, so the schedule may
	// slip but never squeezes a fault to nothing.
	const minFault, minQuiet = time.Second, 500 * time.Millisecond
	var last time.Duration
	for _, f := range schedule {
		if !sleepUntil(max(f.Start, last+minQuiet)) {
			break
		}
		act("start", f, n.start)
		// The fault is in force once its action is done (a restarted node
		// runs skewed only from then on).
		w := Window{Node: f.Node, Offset: f.Offset, Start: h.Since()}
		sleepUntil(max(f.Heal, time.Duration(w.Start)+minFault)) // healed even when ctx ends first
		w.End = h.Since()
		act("heal", f, n.heal)
		last = time.Duration(h.Since())
		windows = append(windows, w)
	}
	return windows
}

// Window is a fault as it happened: between Start and End (nanoseconds
// since the run started) it was in force.
type Window struct {
	Node   int           `json:"node"`
	Offset time.Duration `json:"offset,omitempty"`
	Start  int64         `json:"start_ns"`
	End    int64         `json:"end_ns"`
}

// isolate cuts node i from every other node, both ways (packets dropped).
func isolate(c *Cluster, i int) error {
	var rules []string
	for j := range c.Size() {
		if j != i {
			rules = append(rules, dropFrom(c.Hosts().IP(j))...)
			if err := c.Hosts().SetFilter(j, dropFrom(c.Hosts().IP(i))); err != nil {
				return err
			}
		}
	}
	return c.Hosts().SetFilter(i, rules)
}

// cut cuts nodes a and b apart, both ways (packets dropped).
func cut(c *Cluster, a, b int) error {
	if err := c.Hosts().SetFilter(a, dropFrom(c.Hosts().IP(b))); err != nil {
		return err
	}
	return c.Hosts().SetFilter(b, dropFrom(c.Hosts().IP(a)))
}

func healNet(c *Cluster, _ Fault) (string, error) { return "heal the network", c.Hosts().HealAll() }

func restartSkewed(c *Cluster, f Fault) (string, error) {
	return fmt.Sprintf("restart %s with its clock offset by %v", ID(f.Node), f.Offset), c.Restart(f.Node, f.Offset)
}

func restartUnskewed(c *Cluster, f Fault) (string, error) {
	return fmt.Sprintf("restart %s with its clock right", ID(f.Node)), c.Restart(f.Node, 0)
}

// describeSchedule renders a schedule on one line per fault.
func describeSchedule(n *Nemesis, s []Fault) string {
	var b strings.Builder
	for _, f := range s {
		fmt.Fprintf(&b, "%s %6.2fs-%6.2fs", n.Name, f.Start.Seconds(), f.Heal.Seconds())
		switch {
		case f.Join > 0:
			fmt.Fprintf(&b, " join %s, %s %s", ID(f.Join), f.Exit, ID(f.Node))
		case f.Node >= 0:
			fmt.Fprintf(&b, " node %s", ID(f.Node))
		}
		if f.Offset != 0 {
			fmt.Fprintf(&b, " offset %v", f.Offset)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
