package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pregen/edge/bench/internal/loadgen"
)

func TestFit(t *testing.T) {
	slope, mean := fit([]float64{0, 10, 20, 30}, []float64{5, 7, 9, 11})
	if math.Abs(slope-0.2) > 1e-9 || math.Abs(mean-8) > 1e-9 {
		t.Fatalf("fit = %g, %g; want 0.2, 8", slope, mean)
	}
	if slope, _ := fit([]float64{3, 3}, []float64{1, 2}); slope != 0 {
		t.Fatalf("fit of one x = %g; want 0", slope)
	}
}

// samples returns n samples 10 s apart from t=10, each made by f.
func samples(n int, f func(i int, s *sample)) []sample {
	var out []sample
	for i := range n {
		s := sample{T: float64(10 * (i + 1)), Phase: "steady", AnonKiB: 60 << 10, Goroutines: 100, FDs: 90,
			DiskBytes: 40 << 20, Pages: 1000}
		f(i, &s)
		out = append(out, s)
	}
	return out
}

func upMetrics(tr []trend) []string {
	var up []string
	for _, t := range tr {
		if t.up {
			up = append(up, t.metric)
		}
	}
	return up
}

func TestTrends(t *testing.T) {
	// Noise, a spike before the window, and pages (and disk) growing
	// together are not leaks.
	flat := samples(18, func(i int, s *sample) {
		s.AnonKiB += int64(i%3) << 10
		s.Goroutines += int64(i % 2 * 5)
		s.TmpFiles = int64(i % 4)
		s.Pages += int64(100 * i)
		s.DiskBytes = s.Pages * 40 << 10
		if i == 9 {
			s.Goroutines, s.FDs = 400, 300
		}
	})
	if up := upMetrics(trends(flat, 100)); len(up) > 0 {
		t.Fatalf("flat run judged upward: %v", up)
	}
	// Two goroutines, two fds, 2 MiB of heap, 1 MiB of disk and two temp
	// files more every sample.
	leak := samples(18, func(i int, s *sample) {
		s.Goroutines += int64(2 * i)
		s.FDs += int64(2 * i)
		s.AnonKiB += int64(i) << 11
		s.TmpFiles = int64(2 * i)
		s.DiskBytes += int64(i) << 20
	})
	got := strings.Join(upMetrics(trends(leak, 100)), " ")
	if want := "rss_anon goroutines fds disk_bytes_per_page tmp_files"; got != want {
		t.Fatalf("leaking run: up %q, want %q", got, want)
	}
	// Outage samples are left out of the window.
	out := samples(18, func(i int, s *sample) {
		if i >= 15 {
			s.Phase, s.Goroutines = "outage", 1000
		}
	})
	for _, tr := range trends(out, 100) {
		if tr.up || tr.samples != 6 {
			t.Fatalf("%s", tr)
		}
	}
}

func TestPlan(t *testing.T) {
	o, err := parse([]string{"-d", "3m"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.outage != 30*time.Second || o.sweep != "auto:15s" {
		t.Fatalf("3m: outage %v sweep %q", o.outage, o.sweep)
	}
	p := newPlan(o)
	if p.outStart != 75 || p.outEnd != 105 || p.trendFrom() != 115 {
		t.Fatalf("3m plan %+v, trend from %g", p, p.trendFrom())
	}
	if !p.inOutage(70, 76) || !p.inOutage(110, 116) || p.inOutage(116, 120) || p.inOutage(60, 74) {
		t.Fatal("inOutage wrong at the edges")
	}
	if p.phase(10) != "warm-up" || p.phase(80) != "outage" || p.phase(150) != "steady" {
		t.Fatal("phases wrong")
	}
	o, _ = parse([]string{"-d", "30m"}, io.Discard)
	if p := newPlan(o); o.outage != time.Minute || p.outStart != 870 || o.sweep != "auto:2m30s" {
		t.Fatalf("30m: outage %v at %g, sweep %q", o.outage, p.outStart, o.sweep)
	}
	for _, bad := range [][]string{{"-d", "30s"}, {"-d", "3m", "-outage", "2m"}, {"-sweep", "soon"}, {"x"}} {
		if _, err := parse(bad, io.Discard); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

func TestReport(t *testing.T) {
	o, _ := parse([]string{"-d", "3m"}, io.Discard)
	r := &report{o: o, p: newPlan(o), date: "2026-11-25", maxRPS: 1000, rate: 800, cleanExit: true, outageStarted: true,
		streams: []stream{{name: "hit"}, {name: "miss"}}}
	r.samples = samples(18, func(int, *sample) {})
	r.chunks = []chunkResult{
		{stream: "miss", start: 80, end: 85, res: resWith(502, 3)},   // in the outage: tolerated
		{stream: "miss", start: 110, end: 115, res: resWith(502, 1)}, // settling: tolerated
		{stream: "hit", start: 150, end: 155, res: resWith(200, 100)},
	}
	r.judge()
	if r.verdict() != "PASS" {
		t.Fatalf("failures: %v", r.failures)
	}
	r.chunks = append(r.chunks, chunkResult{stream: "hit", start: 160, end: 165, res: resWith(503, 1)})
	r.failures = nil
	r.judge()
	if len(r.failures) != 1 || !strings.Contains(r.failures[0], "hit: 1 5xx") {
		t.Fatalf("a 503 outside the outage: failures %v", r.failures)
	}
	var b bytes.Buffer
	if err := writeSVG(&b, r); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("SVG is not XML: %v", err)
		}
	}
}

func resWith(status int, n uint64) (r loadgen.Result) {
	r.Requests = n
	r.Statuses = map[int]uint64{status: n}
	return r
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.5: 1, 1: 1, 1.2: 2, 3: 5, 7: 10, 99: 100, 101: 200, 4500: 5000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%g) = %g, want %g", in, got, want)
		}
	}
}
