package main

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
)

// Chart geometry, in SVG user units.
const (
	svgWidth    = 960
	svgLeft     = 80
	svgRight    = 20
	svgTop      = 56
	panelH      = 120
	panelGap    = 44
	svgBottomPx = 40
)

// series is one line in a panel.
type series struct {
	label, color string
	value        func(sample) float64
}

// panel is one small chart: a quantity over time.
type panel struct {
	title string
	lines []series
}

var panels = []panel{
	{"RSS (MiB)", []series{
		{"VmRSS", "#1f77b4", func(s sample) float64 { return float64(s.RSSKiB) / 1024 }},
		{"RssAnon (judged)", "#d62728", func(s sample) float64 { return float64(s.AnonKiB) / 1024 }},
	}},
	{"goroutines", []series{{"go_goroutines", "#2ca02c", func(s sample) float64 { return float64(s.Goroutines) }}}},
	{"open file descriptors", []series{{"/proc/PID/fd", "#9467bd", func(s sample) float64 { return float64(s.FDs) }}}},
	{"disk use per stored page (KiB); stored pages (thousands)", []series{
		{"KiB per page (judged)", "#8c564b", func(s sample) float64 { return s.diskPerPage() / 1024 }},
		{"pages / 1000", "#7f7f7f", func(s sample) float64 { return float64(s.Pages) / 1000 }},
	}},
	{"temp files in store.root/@edge/tmp", []series{{"files", "#ff7f0e", func(s sample) float64 { return float64(s.TmpFiles) }}}},
	{"responses and 5xx per sample period", []series{
		{"responses / 1000", "#17becf", func(s sample) float64 { return float64(s.Requests) / 1000 }},
		{"5xx", "#d62728", func(s sample) float64 { return float64(s.Status5xx) }},
	}},
}

// writeSVG draws one panel per resource over the run, with the outage
// shaded and the start of the trend window marked.
func writeSVG(w io.Writer, r *report) error {
	bw := bufio.NewWriter(w)
	height := svgTop + len(panels)*(panelH+panelGap) + svgBottomPx
	plotW := float64(svgWidth - svgLeft - svgRight)
	x := func(t float64) float64 { return svgLeft + plotW*t/math.Max(r.p.dur, 1) }
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(bw, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", svgLeft,
		esc(fmt.Sprintf("edge soak %s: %s, %.0f req/s for %v", r.date, r.verdict(), r.rate, r.o.dur)))
	fmt.Fprintf(bw, `<text x="%d" y="40" fill="#555">%s</text>`+"\n", svgLeft,
		esc(fmt.Sprintf("grey: origin outage %.0f-%.0fs; dashed: the trend window starts (%.0fs); a sample every %v",
			r.p.outStart, r.p.outEnd, r.p.trendFrom(), r.o.every)))
	for i, p := range panels {
		top := float64(svgTop + i*(panelH+panelGap) + 16)
		bottom := top + panelH
		hi := 0.0
		for _, s := range r.samples {
			for _, l := range p.lines {
				hi = math.Max(hi, l.value(s))
			}
		}
		hi = niceCeil(hi)
		y := func(v float64) float64 { return bottom - panelH*v/hi }
		fmt.Fprintf(bw, `<text x="%d" y="%.0f" font-weight="bold">%s</text>`+"\n", svgLeft, top-6, esc(p.title))
		if r.p.outEnd > r.p.outStart {
			fmt.Fprintf(bw, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#ddd"/>`+"\n",
				x(r.p.outStart), top, x(r.p.outEnd)-x(r.p.outStart), panelH)
		}
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>`+"\n",
			x(r.p.trendFrom()), top, x(r.p.trendFrom()), bottom)
		fmt.Fprintf(bw, `<rect x="%d" y="%.1f" width="%.0f" height="%d" fill="none" stroke="#333"/>`+"\n", svgLeft, top, plotW, panelH)
		for _, v := range []float64{0, hi / 2, hi} {
			fmt.Fprintf(bw, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, y(v)+4, num(v))
		}
		for j, l := range p.lines {
			fmt.Fprintf(bw, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, l.color)
			for _, s := range r.samples {
				fmt.Fprintf(bw, "%.1f,%.1f ", x(s.T), y(l.value(s)))
			}
			fmt.Fprintf(bw, "\"/>\n")
			fmt.Fprintf(bw, `<text x="%.0f" y="%.0f" fill="%s" text-anchor="end">%s</text>`+"\n",
				float64(svgWidth-svgRight)-float64(j)*170, top-6, l.color, esc(l.label))
		}
	}
	axis := float64(svgTop + len(panels)*(panelH+panelGap) + 4)
	for _, t := range []float64{0, r.p.dur / 4, r.p.dur / 2, 3 * r.p.dur / 4, r.p.dur} {
		fmt.Fprintf(bw, `<text x="%.1f" y="%.0f" text-anchor="middle">%.0fs</text>`+"\n", x(t), axis, t)
	}
	fmt.Fprintln(bw, "</svg>")
	return bw.Flush()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func esc(s string) string { return html.EscapeString(s) }
