package main

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
)

// streamTotal sums one stream's chunks, split by the outage.
type streamTotal struct {
	name                     string
	requests, errors, unsent uint64
	out5xx, outErrs          uint64 // outside the outage
	in5xx, inErrs            uint64 // during the outage (and the settle period after it)
	seconds                  float64
	statuses                 map[int]uint64
	xcache                   map[string]uint64
	firstBad                 string // the first chunk outside the outage with a 5xx or an error
	p50, maxMs, worstP99s    float64
}

func (r *report) totals() []streamTotal {
	var out []streamTotal
	for _, st := range r.streams {
		t := streamTotal{name: st.name, statuses: map[int]uint64{}, xcache: map[string]uint64{}}
		var n float64
		for _, c := range r.chunks {
			if c.stream != st.name {
				continue
			}
			t.requests += c.res.Requests
			t.errors += c.res.Errors
			t.unsent += c.res.Unsent
			t.seconds += c.res.Seconds
			for k, v := range c.res.Statuses {
				t.statuses[k] += v
			}
			for k, v := range c.res.XCache {
				t.xcache[k] += v
			}
			s5 := c.status5xx()
			if r.p.inOutage(c.start, c.end) {
				t.in5xx += s5
				t.inErrs += c.res.Errors
				continue
			}
			t.out5xx += s5
			t.outErrs += c.res.Errors
			if (s5 > 0 || c.res.Errors > 0) && t.firstBad == "" {
				t.firstBad = fmt.Sprintf("%.0fs-%.0fs: statuses %v, %d errors", c.start, c.end, c.res.Statuses, c.res.Errors)
			}
			// Latency outside the outage: the mean of the chunks' medians,
			// the worst chunk's p99 and the maximum.
			t.p50 += c.res.P50
			n++
			t.worstP99s = max(t.worstP99s, c.res.P99)
			t.maxMs = max(t.maxMs, c.res.Max)
		}
		if n > 0 {
			t.p50 /= n
		}
		out = append(out, t)
	}
	return out
}

// judge fills r.trends and r.failures.
func (r *report) judge() {
	r.trends = trends(r.samples, r.p.trendFrom())
	for _, t := range r.totals() {
		if t.out5xx > 0 || t.outErrs > 0 {
			r.failures = append(r.failures, fmt.Sprintf("%s: %d 5xx and %d errors outside the outage (first: %s)",
				t.name, t.out5xx, t.outErrs, t.firstBad))
		}
	}
	for _, t := range r.trends {
		if t.up {
			r.failures = append(r.failures, "trends upward: "+t.String())
		}
		if t.samples < 3 {
			r.failures = append(r.failures, fmt.Sprintf("%s: only %d samples after %.0fs, too few to judge a trend", t.metric, t.samples, r.p.trendFrom()))
			break
		}
	}
	if r.p.outEnd > r.p.outStart && !r.outageStarted {
		r.failures = append(r.failures, "the origin outage never happened")
	}
	if !r.cleanExit {
		r.failures = append(r.failures, "edge did not exit with status 0 within 30s of SIGTERM")
	}
}

func (r *report) verdict() string {
	if len(r.failures) == 0 {
		return "PASS"
	}
	return "FAIL"
}

// lines is the summary printed at the end and written to the .md file.
func (r *report) lines() []string {
	sweep := "sweep not configured (this edge build has no sweep.period)"
	switch {
	case r.sweep != "":
		sweep = "sweep.period " + r.sweep
	case r.o.sweep == "off":
		sweep = "sweep off (-sweep off)"
	}
	l := []string{
		fmt.Sprintf("soak %s: %s, %d CPUs, a sample every %v", r.date, r.verdict(), runtime.NumCPU(), r.o.every),
		fmt.Sprintf("maximum hit throughput %.0f/s (closed loop, 64 connections, %.0fs); soak rate %.0f/s (%.0f%%) for %v",
			r.maxRPS, r.measured, r.rate, 100*r.rate/r.maxRPS, r.o.dur),
		fmt.Sprintf("hot set /events/1..%d (zipf s=1), misses %g/s, logged-in bypass %g/s, %d invalidations posted, %s",
			r.o.pages, r.o.missRate, r.o.bypassRate, r.invalidations, sweep),
		fmt.Sprintf("origin outage %.0fs-%.0fs (5xx tolerated until %.0fs); trend window from %.0fs",
			r.p.outStart, r.p.outEnd, r.p.outEnd+r.p.settle, r.p.trendFrom()),
		"",
		"| stream | requests | req/s | p50 ms (mean of 5 s chunks) | worst chunk p99 ms | max ms | 5xx outside outage | errors outside | 5xx in outage | errors in outage | unsent | statuses | X-Cache |",
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|",
	}
	for _, t := range r.totals() {
		rps := 0.0
		if r.p.dur > 0 {
			rps = float64(t.requests) / r.p.dur
		}
		l = append(l, fmt.Sprintf("| %s | %d | %.0f | %.2f | %.1f | %.0f | %d | %d | %d | %d | %d | %s | %s |",
			t.name, t.requests, rps, t.p50, t.worstP99s, t.maxMs, t.out5xx, t.outErrs, t.in5xx, t.inErrs, t.unsent,
			fmtMap(t.statuses), fmtMap(t.xcache)))
	}
	for _, t := range r.totals() {
		if t.unsent*100 > t.requests {
			l = append(l, "", fmt.Sprintf("Note: %d %s requests due were never sent (a backlog past the drain): edge, or the machine it shares with the load, did not keep up with %.0f/s; -load or -rate lowers it.",
				t.unsent, t.name, r.rate))
		}
	}
	l = append(l, "", "| resource | verdict | samples | first | last | mean | fitted growth | tolerance |", "|---|---|---|---|---|---|---|---|")
	for _, t := range r.trends {
		v := "flat"
		if t.up {
			v = "**up**"
		}
		l = append(l, fmt.Sprintf("| %s | %s | %d | %.0f | %.0f | %.0f | %+.1f | %.1f |", t.metric, v, t.samples, t.first, t.last, t.mean, t.growth, t.allowed))
	}
	if len(r.failures) > 0 {
		l = append(l, "", "Problems:")
		for _, f := range r.failures {
			l = append(l, "- "+f)
		}
	}
	return l
}

func fmtMap[K int | string](m map[K]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%v: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// writeFiles writes base.csv, base.svg and base.md.
func writeFiles(base string, r *report) error {
	var csv strings.Builder
	csv.WriteString(csvHeader + "\n")
	for _, s := range r.samples {
		csv.WriteString(s.csv() + "\n")
	}
	if err := os.WriteFile(base+".csv", []byte(csv.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Create(base + ".svg")
	if err != nil {
		return err
	}
	if err := writeSVG(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	name := base[strings.LastIndexByte(base, '/')+1:]
	md := fmt.Sprintf("# Soak run, %s\n\n`make soak DURATION=%v` (bench/cmd/soak: %s). Samples in [%s.csv](%s.csv), chart [%s.svg](%s.svg).\n\n%s\n",
		r.date, r.o.dur, strings.Join(os.Args[1:], " "), name, name, name, name, strings.Join(r.lines(), "\n"))
	return os.WriteFile(base+".md", []byte(md), 0o644)
}
