package bench

import (
	"fmt"
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// WritePlot draws the run phase over time as an SVG: one row per workload,
// throughput (ops/s) on the left and p99 latency (ms) on the right, one
// line per consistency level.
func (r *Report) WritePlot(w io.Writer) error {
	var workloads []string
	for _, res := range r.Results {
		if !slices.Contains(workloads, res.Workload) {
			workloads = append(workloads, res.Workload)
		}
	}
	if len(workloads) == 0 {
		return fmt.Errorf("bench: nothing to plot")
	}
	plots := make([][]*plot.Plot, len(workloads))
	for i, wl := range workloads {
		tput, p99 := plot.New(), plot.New()
		tput.Title.Text = "workload " + wl + ": throughput"
		tput.X.Label.Text, tput.Y.Label.Text = "seconds", "ops/s"
		p99.Title.Text = "workload " + wl + ": p99 latency"
		p99.X.Label.Text, p99.Y.Label.Text = "seconds", "ms"
		var tLines, lLines []any
		for _, res := range r.Results {
			if res.Workload != wl {
				continue
			}
			tp, lp := make(plotter.XYs, len(res.Series)), make(plotter.XYs, len(res.Series))
			for j, pt := range res.Series {
				tp[j] = plotter.XY{X: pt.Second, Y: pt.OpsPerSec}
				lp[j] = plotter.XY{X: pt.Second, Y: float64(pt.P99US) / 1000}
			}
			tLines = append(tLines, res.Consistency, tp)
			lLines = append(lLines, res.Consistency, lp)
		}
		if err := plotutil.AddLinePoints(tput, tLines...); err != nil {
			return fmt.Errorf("bench: plot: %w", err)
		}
		if err := plotutil.AddLinePoints(p99, lLines...); err != nil {
			return fmt.Errorf("bench: plot: %w", err)
		}
		tput.Y.Min, p99.Y.Min = 0, 0
		tput.Legend.Top, p99.Legend.Top = true, true
		plots[i] = []*plot.Plot{tput, p99}
	}
	c := vgsvg.New(24*vg.Centimeter, vg.Length(len(workloads))*8*vg.Centimeter)
	tiles := draw.Tiles{Rows: len(workloads), Cols: 2, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(plots, tiles, draw.New(c))
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("bench: writing the plot: %w", err)
	}
	return nil
}
