package main

import (
	"fmt"
	"math"
)

// metric is one sampled resource that must not trend upward.
type metric struct {
	name  string
	unit  string
	value func(sample) float64
	// floor is the growth over the window always tolerated (GC and
	// allocator noise, a connection more or less); rel the growth tolerated
	// as a fraction of the window's mean.
	floor, rel float64
}

// metrics are the resources a leak would grow. RSS is judged by RssAnon
// (VmRSS also counts the index's memory-mapped file, which grows with the
// pages stored) and disk by bytes per stored page (misses on new URLs add
// pages by design).
var metrics = []metric{
	{"rss_anon", "KiB", func(s sample) float64 { return float64(s.AnonKiB) }, 8 << 10, 0.10},
	{"goroutines", "", func(s sample) float64 { return float64(s.Goroutines) }, 10, 0.10},
	{"fds", "", func(s sample) float64 { return float64(s.FDs) }, 10, 0.10},
	{"disk_bytes_per_page", "B", sample.diskPerPage, 4 << 10, 0.05},
	{"tmp_files", "", func(s sample) float64 { return float64(s.TmpFiles) }, 8, 0},
}

// trend is the verdict on one metric.
type trend struct {
	metric           string
	first, last      float64 // of the window
	mean, slope      float64 // slope in units per second
	growth, allowed  float64 // slope × window length, and the tolerance
	up               bool
	samples, skipped int // samples in the window, and before it
}

func (t trend) String() string {
	verdict := "flat"
	if t.up {
		verdict = "TRENDS UP"
	}
	return fmt.Sprintf("%-20s %s: window %d samples, first %.0f last %.0f mean %.0f; fitted growth %+.1f over the window (tolerance %.1f)",
		t.metric, verdict, t.samples, t.first, t.last, t.mean, t.growth, t.allowed)
}

// trends fits a least-squares line to each metric over the samples at or
// after from (seconds) and flags any whose fitted growth across that window
// exceeds max(floor, rel × mean). Fewer than 3 samples in the window judge
// nothing.
func trends(samples []sample, from float64) []trend {
	var win []sample
	for _, s := range samples {
		if s.T >= from && s.Phase != "outage" {
			win = append(win, s)
		}
	}
	var out []trend
	for _, m := range metrics {
		t := trend{metric: m.name, samples: len(win), skipped: len(samples) - len(win)}
		if len(win) >= 3 {
			xs, ys := make([]float64, len(win)), make([]float64, len(win))
			for i, s := range win {
				xs[i], ys[i] = s.T, m.value(s)
			}
			t.first, t.last = ys[0], ys[len(ys)-1]
			t.slope, t.mean = fit(xs, ys)
			t.growth = t.slope * (xs[len(xs)-1] - xs[0])
			t.allowed = math.Max(m.floor, m.rel*t.mean)
			t.up = t.growth > t.allowed
		}
		out = append(out, t)
	}
	return out
}

// fit returns the least-squares slope of ys over xs, and the mean of ys.
func fit(xs, ys []float64) (slope, mean float64) {
	n := float64(len(xs))
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0, my
	}
	return sxy / sxx, my
}
