package bench

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Default plot size in pixels.
const (
	DefaultPlotWidth  = 900
	DefaultPlotHeight = 560
)

// plotDPI maps pixels to gonum's lengths: width px = length / inch * plotDPI.
const plotDPI = 96

// percentileStepsPerDecade is the number of points per "nine" on the x axis.
const percentileStepsPerDecade = 40

// Label names the report in a plot legend: protocol, load and value size.
func (r *Report) Label() string {
	return fmt.Sprintf("%s %dx%d %dB", r.Protocol, r.Conns, r.Pipeline, r.ValueSize)
}

// WritePlot writes a PNG of width x height pixels to path: latency by
// percentile, one line per report, in the HdrHistogram style. The x axis
// is log-scale in 1/(1-percentile) and labelled 0%, 90%, 99%, 99.9%...;
// the y axis is latency in microseconds.
func WritePlot(path string, width, height int, reports ...*Report) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("bench: plot size %dx%d", width, height)
	}
	if len(reports) == 0 {
		return fmt.Errorf("bench: nothing to plot")
	}
	p := plot.New()
	p.Title.Text = "Latency by percentile"
	if len(reports) == 1 {
		p.Title.Text += ": " + reports[0].Label()
	}
	p.X.Label.Text = "percentile"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.TickerFunc(percentileTicks)
	p.Y.Label.Text = "latency (µs)"
	p.Y.Min = 0
	p.Y.Tick.Marker = plot.TickerFunc(latencyTicks)
	p.Add(plotter.NewGrid())

	maxNines := 1.0
	var lines []any
	for _, r := range reports {
		pts := percentilePoints(r)
		if len(pts) == 0 {
			continue
		}
		maxNines = math.Max(maxNines, math.Log10(pts[len(pts)-1].X))
		if len(reports) > 1 {
			lines = append(lines, r.Label())
		}
		lines = append(lines, pts)
	}
	if len(lines) > 0 {
		if err := plotutil.AddLines(p, lines...); err != nil {
			return fmt.Errorf("bench: plot: %w", err)
		}
	}
	p.X.Min = 1
	p.X.Max = math.Pow(10, math.Ceil(maxNines))
	p.Legend.Top = true
	p.Legend.Left = true

	c := vgimg.NewWith(
		vgimg.UseWH(vg.Length(width)*vg.Inch/plotDPI, vg.Length(height)*vg.Inch/plotDPI),
		vgimg.UseDPI(plotDPI),
	)
	p.Draw(draw.New(c))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: plot: %w", err)
	}
	return f.Close()
}

// percentilePoints samples the report's histogram: x = 1/(1-q) for
// percentiles q from 0 up to the last one the sample count resolves,
// y = latency at q in microseconds.
func percentilePoints(r *Report) plotter.XYs {
	h := r.Histogram
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	nines := math.Max(1, math.Log10(float64(h.TotalCount())))
	steps := int(math.Ceil(nines * percentileStepsPerDecade))
	pts := make(plotter.XYs, 0, steps+1)
	for i := 0; i <= steps; i++ {
		k := nines * float64(i) / float64(steps)
		q := 1 - math.Pow(10, -k)
		pts = append(pts, plotter.XY{X: math.Pow(10, k), Y: float64(h.ValueAtQuantile(q*100)) / 1e3})
	}
	return pts
}

// percentileTicks labels each power of ten x = 10^k as the percentile
// 1 - 10^-k: 0%, 90%, 99%, 99.9%...
func percentileTicks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for k := 0; math.Pow(10, float64(k)) <= hi*1.0001; k++ {
		x := math.Pow(10, float64(k))
		if x < lo/1.0001 {
			continue
		}
		ticks = append(ticks, plot.Tick{Value: x, Label: percentileLabel(k)})
		for m := 2; m < 10; m++ {
			if mx := x * float64(m); mx < hi {
				ticks = append(ticks, plot.Tick{Value: mx})
			}
		}
	}
	return ticks
}

// percentileLabel is 1 - 10^-k as a percentage: 0%, 90%, 99%, 99.9%...
func percentileLabel(k int) string {
	if k == 0 {
		return "0%"
	}
	if k <= 2 {
		return strconv.Itoa(100-int(math.Pow(10, float64(2-k)))) + "%"
	}
	return "99." + strings.Repeat("9", k-2) + "%"
}

// latencyTicks are gonum's default ticks labelled without trailing zeros.
func latencyTicks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}
