package results

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// palette gives each known server the same colour in every chart; others
// take the fallbacks in order.
var palette = map[string]string{
	"edge":              "#1f77b4",
	"nginx-static":      "#2ca02c",
	"nginx-proxy_cache": "#ff7f0e",
	"varnish":           "#9467bd",
	"origin":            "#7f7f7f",
}

var fallback = []string{"#d62728", "#8c564b", "#e377c2", "#bcbd22", "#17becf"}

// Chart geometry, in SVG user units (pixels).
const (
	chartWidth  = 1000
	panelHeight = 300
	marginLeft  = 70
	marginRight = 20
	titleHeight = 60
	panelGap    = 90
	legendRow   = 24
)

// WriteSVG draws two panels from d's cells: requests/s (the throughput
// runs' medians) and p99 latency (the constant-rate runs' medians), one
// group of bars per scenario, one bar per server, on log scales so the
// origin's floor and the caches fit on one axis. A server that cannot run
// a scenario gets "n/a" instead of a bar.
func WriteSVG(w io.Writer, d *Doc) error {
	var scen []string
	for _, s := range d.Scenarios {
		if s.Available {
			scen = append(scen, s.Name)
		}
	}
	height := titleHeight + 2*panelHeight + panelGap + 60 + legendRow
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", marginLeft,
		esc("edge vs peers, "+d.Date+": one server core, 16 KB pages"))
	fmt.Fprintf(&b, `<text x="%d" y="44" font-size="11" fill="#555">%s</text>`+"\n", marginLeft,
		esc("median of the rounds; log scales; each server pinned to CPU 0, the load generator to CPU 1"))

	// Legend.
	x := marginLeft
	ly := titleHeight + 2*panelHeight + panelGap + 50
	for i, srv := range d.Servers {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`, x, ly-10, colour(srv, i))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12">%s</text>`+"\n", x+16, ly, esc(srv))
		x += 30 + 8*len(srv)
	}

	panel(&b, d, scen, titleHeight, "requests/s (wrk, closed loop; higher is better)",
		func(c *Cell) float64 { return c.RPS })
	panel(&b, d, scen, titleHeight+panelHeight+panelGap, "p99 latency in ms at a constant rate (ratectl; lower is better)",
		func(c *Cell) float64 { return c.P99 })
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// panel draws one bar panel whose plot area starts at y top.
func panel(b *bytes.Buffer, d *Doc, scen []string, top int, title string, value func(*Cell) float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range scen {
		for _, srv := range d.Servers {
			if c := d.Cell(s, srv); c != nil && value(c) > 0 {
				lo, hi = math.Min(lo, value(c)), math.Max(hi, value(c))
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	plotTop, plotH := top+20, panelHeight-50
	plotW := chartWidth - marginLeft - marginRight
	yOf := func(v float64) float64 {
		return float64(plotTop+plotH) - (math.Log10(v)-dlo)/(dhi-dlo)*float64(plotH)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", marginLeft, top+8, esc(title))
	for e := dlo; e <= dhi; e++ {
		y := yOf(math.Pow(10, e))
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`, marginLeft, y, marginLeft+plotW, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`+"\n", marginLeft-6, y+3, esc(short(math.Pow(10, e))))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", marginLeft, plotTop+plotH, marginLeft+plotW, plotTop+plotH)
	if len(scen) == 0 {
		return
	}
	group := float64(plotW) / float64(len(scen))
	bar := (group - 16) / float64(max(len(d.Servers), 1))
	for gi, s := range scen {
		gx := float64(marginLeft) + float64(gi)*group + 8
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="12" text-anchor="middle">%s</text>`+"\n",
			gx+(group-16)/2, plotTop+plotH+16, esc(s))
		for si, srv := range d.Servers {
			x := gx + float64(si)*bar
			c := d.Cell(s, srv)
			if c == nil || value(c) <= 0 {
				fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="8" fill="#999" text-anchor="middle">n/a</text>`+"\n",
					x+bar/2, plotTop+plotH-3)
				continue
			}
			v := value(c)
			y := yOf(math.Max(v, math.Pow(10, dlo)))
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
				x+1, y, bar-2, float64(plotTop+plotH)-y, colour(srv, si), esc(fmt.Sprintf("%s %s: %s", srv, s, short(v))))
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle">%s</text>`+"\n",
				x+bar/2, y-3, esc(short(v)))
		}
	}
}

func colour(server string, i int) string {
	if c, ok := palette[server]; ok {
		return c
	}
	return fallback[i%len(fallback)]
}

// short formats v compactly: 145K, 1.2M, 37, 0.84.
func short(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trim(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e4:
		return fmt.Sprintf("%.0fK", v/1e3)
	case a >= 1e3:
		return trim(fmt.Sprintf("%.1f", v/1e3)) + "K"
	case a >= 10:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return trim(fmt.Sprintf("%.1f", v))
	default:
		return trim(fmt.Sprintf("%.2f", v))
	}
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
