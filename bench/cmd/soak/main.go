// Command soak runs edge under steady mixed load for a long time and fails
// if anything leaks. It starts the demo origin and `edge serve` (the real
// binaries, from -bin), fills a hot set of pages, measures the maximum
// hit throughput briefly (or takes -rate), then for -d sends about 80% of
// it (-load) as mixed traffic:
//
//   - hits on a zipf-distributed hot set of -pages pages,
//   - misses on pages never asked for before (-miss-rate a second),
//   - logged-in requests that bypass the cache (-bypass-rate a second),
//   - an invalidation posted to the admin API every -every,
//   - the sweep, every -sweep, when this edge build has sweep.period,
//   - an origin outage in the middle (-outage; the origin process is
//     stopped, then started again).
//
// Every -every it samples edge's RSS, goroutines, open file descriptors,
// disk use and temp files into soak.csv, and at the end draws soak.svg and
// writes soak.md. It exits 1 if any of them trends upward over the second
// half of the run (after the outage), if any request outside the outage
// gets a 5xx or no answer, if an invalidation is refused, or if edge does
// not shut down cleanly.
//
//	soak -bin bin -d 30m -out bench/results -name 2026-11-25-soak
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	bin, work, out, name string
	dur, every, outage   time.Duration
	sweep                string
	rate, load           float64
	missRate, bypassRate float64
	pages                int
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "`dir` holding the edge and demo-origin binaries")
	fs.StringVar(&o.work, "work", ".run/soak", "`dir` for configs, logs and the store (emptied first)")
	fs.StringVar(&o.out, "out", "bench/results", "`dir` for the CSV, SVG and summary")
	fs.StringVar(&o.name, "name", time.Now().Format("2006-01-02")+"-soak", "base `name` of the result files")
	fs.DurationVar(&o.dur, "d", 30*time.Minute, "how long the mixed traffic runs")
	fs.DurationVar(&o.every, "every", 10*time.Second, "sampling and invalidation period")
	fs.DurationVar(&o.outage, "outage", 0, "origin outage in the middle (default d/6, at most 60s)")
	fs.StringVar(&o.sweep, "sweep", "auto", "sweep.period for edge: a duration, auto (d/12, 10s..5m, if edge knows sweep.period) or off")
	fs.Float64Var(&o.rate, "rate", 0, "total requests per second (default -load × the measured maximum)")
	fs.Float64Var(&o.load, "load", 0.8, "fraction of the measured maximum to send, without -rate")
	fs.Float64Var(&o.missRate, "miss-rate", 10, "misses (new pages) per second")
	fs.Float64Var(&o.bypassRate, "bypass-rate", 10, "logged-in (bypass) requests per second")
	fs.IntVar(&o.pages, "pages", 2000, "the hot set: /events/1..N")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.dur < 6*o.every || o.every <= 0 {
		return o, fmt.Errorf("-d %v must be at least 6 × -every %v", o.dur, o.every)
	}
	if o.outage == 0 {
		o.outage = min(o.dur/6, time.Minute)
	}
	if o.outage < 0 || o.outage > o.dur/2 {
		return o, fmt.Errorf("-outage %v must be between 0 and -d/2", o.outage)
	}
	if o.pages < 10 || o.missRate < 0 || o.bypassRate < 0 || o.rate < 0 || o.load <= 0 || o.load > 1 {
		return o, errors.New("-pages must be ≥ 10, the rates ≥ 0 and -load in (0, 1]")
	}
	if o.sweep == "auto" {
		o.sweep = min(max(o.dur/12, 10*time.Second), 5*time.Minute).String()
		o.sweep = "auto:" + o.sweep
	} else if o.sweep != "off" {
		if _, err := time.ParseDuration(o.sweep); err != nil {
			return o, fmt.Errorf("-sweep %q: %w", o.sweep, err)
		}
	}
	return o, nil
}

// plan is the timeline of the traffic phase, in seconds from its start.
type plan struct {
	dur, outStart, outEnd, settle, warm float64
}

// newPlan puts the outage in the middle; the trend window starts at the
// later of half-time and one period after the outage; the first tenth
// (at least one period) is warm-up.
func newPlan(o options) plan {
	d := o.dur.Seconds()
	p := plan{dur: d, outStart: (d - o.outage.Seconds()) / 2, settle: o.every.Seconds()}
	p.outEnd = p.outStart + o.outage.Seconds()
	p.warm = max(d/10, o.every.Seconds())
	return p
}

// inOutage reports whether the span [a, b] overlaps the outage or the
// period after it in which edge may still be catching up.
func (p plan) inOutage(a, b float64) bool {
	return p.outEnd > p.outStart && b >= p.outStart && a <= p.outEnd+p.settle
}

// trendFrom is where the trend window starts.
func (p plan) trendFrom() float64 {
	from := p.dur / 2
	if p.outEnd > p.outStart {
		from = max(from, p.outEnd+p.settle)
	}
	return from
}

func (p plan) phase(t float64) string {
	switch {
	case p.inOutage(t, t):
		return "outage"
	case t < p.warm:
		return "warm-up"
	}
	return "steady"
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parse(args, os.Stderr)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stdout, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	if err := os.RemoveAll(o.work); err != nil {
		return err
	}
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	r := &soak{o: o, p: newPlan(o), logf: logf}
	defer r.cleanup()
	rep, err := r.run(ctx)
	if err != nil {
		return err
	}
	base := filepath.Join(o.out, o.name)
	if err := writeFiles(base, rep); err != nil {
		return err
	}
	logf("wrote %s.{csv,svg,md}", base)
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, strings.Join(rep.lines(), "\n"))
	if len(rep.failures) > 0 {
		return fmt.Errorf("%d problem(s):\n  %s", len(rep.failures), strings.Join(rep.failures, "\n  "))
	}
	fmt.Fprintln(stdout, "soak: PASS")
	return nil
}
