package main

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"runtime"
	"slices"
	"strings"

	"github.com/pregen/edge/bench/internal/results"
)

// scenario runs every round of one scenario over the servers that can
// take part in it.
func (s *suite) scenario(ctx context.Context, name string) error {
	o := s.opt
	info := results.Scenario{Name: name, What: s.describe(name), Available: true}
	var srvs []*server
	var notes []string
	for _, srv := range s.servers {
		if ok, why := serves(srv.name, name); ok {
			srvs = append(srvs, srv)
		} else if name != invalidate {
			notes = append(notes, srv.name+": "+why)
		}
	}
	var inv *invalidation
	if name == invalidate {
		note, ok := s.invalidateProbe(ctx)
		if !ok {
			info.Available, info.Note = false, note
			s.doc.Scenarios = append(s.doc.Scenarios, info)
			s.logf("%s: not available: %s", name, note)
			return nil
		}
		notes = append(notes, note)
	}
	s.logf("scenario %s: %s", name, strings.Join(names(srvs), ", "))
	for _, srv := range srvs {
		if !resetPeakRSS(srv.proc.Pid()) {
			s.rssResetFailed = true
		}
	}
	if o.warmup > 0 && (name == hot || name == zipf || name == crawlWarm || name == invalidate) {
		for _, srv := range srvs {
			l := s.throughput(srv, name, 0)
			for i, a := range l.argv {
				if strings.HasPrefix(a, "-d") && l.tool == "wrk" {
					l.argv[i] = "-d" + o.warmup.String()
				}
			}
			if _, err := s.measure(ctx, srv, name, 0, "warm-up", l); err != nil {
				return err
			}
		}
	}
	if name == invalidate {
		var err error
		if inv, err = s.startInvalidation(ctx); err != nil {
			return err
		}
	}
	for round := 1; round <= o.rounds; round++ {
		for k := range srvs {
			srv := srvs[(k+round-1)%len(srvs)] // a different server goes first each round
			tl := s.throughput(srv, name, s.fresh(name, uint64(o.crawlCount)))
			run, err := s.measure(ctx, srv, name, round, results.Throughput, tl)
			if err != nil {
				return err
			}
			s.doc.Runs = append(s.doc.Runs, run)
			s.logf("%-10s %-17s round %d throughput: %s", name, srv.name, round, runLine(run))
			rate := o.rate
			if originBound(srv.name, name) {
				rate = o.originRate
			}
			ll := s.latency(srv, name, s.fresh(name, uint64(math.Ceil(rate*o.duration.Seconds()))+1))
			run, err = s.measure(ctx, srv, name, round, results.Latency, ll)
			if err != nil {
				return err
			}
			s.doc.Runs = append(s.doc.Runs, run)
			s.logf("%-10s %-17s round %d latency:    %s", name, srv.name, round, runLine(run))
		}
	}
	if o.perf && (name == hot || name == crawlWarm) {
		for _, srv := range srvs {
			if srv.name == edgeName || srv.name == static {
				if err := s.profile(ctx, srv, name); err != nil {
					s.logf("perf: %v", err)
				}
			}
		}
	}
	for _, srv := range srvs {
		s.rss[[2]string{name, srv.name}] = float64(peakRSS(srv.proc.Pid())) / 1024
	}
	if inv != nil {
		notes = append(notes, inv.wait(ctx, s))
	}
	info.Note = strings.Join(notes, "; ")
	s.doc.Scenarios = append(s.doc.Scenarios, info)
	return nil
}

// fresh hands out n pages nobody has asked for: events beyond the stored
// set for crawl-cold, one person page for stampede. Other scenarios get 0.
func (s *suite) fresh(scenario string, n uint64) uint64 {
	switch scenario {
	case crawlCold:
		if s.nextEvent == 0 {
			s.nextEvent = uint64(s.opt.pages) + 1
		}
		v := s.nextEvent
		s.nextEvent += n
		return v
	case stampede:
		s.nextPerson++
		return s.nextPerson
	}
	return 0
}

func names(srvs []*server) []string {
	var n []string
	for _, s := range srvs {
		n = append(n, s.name)
	}
	return n
}

func numCPU() int { return runtime.NumCPU() }

func execOutput(argv ...string) (string, error) {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// expectation says what the origin renders of a cell must be, and checks
// them run by run.
func expectation(scenario, server string, runs []results.Run) (string, bool) {
	ok := true
	switch {
	case scenario == invalidate:
		return "", true // judged over the whole scenario (invalidation.wait)
	case server == originName || scenario == bypass:
		for _, r := range runs {
			ok = ok && r.Renders >= int64(r.Requests)
		}
		return "every request", ok
	case scenario == stampede:
		for _, r := range runs {
			ok = ok && r.Renders == 1
		}
		return "1 per run", ok
	case scenario == crawlCold:
		var sent int64
		for _, r := range runs {
			sent += int64(r.Sent)
			ok = ok && r.Renders == int64(r.Sent)
		}
		return fmt.Sprintf("= distinct pages (%d)", sent), ok
	default:
		for _, r := range runs {
			ok = ok && r.Renders == 0
		}
		return "0", ok
	}
}

// summarise computes the cells (medians over the rounds), their ratios to
// nginx-static and the checks of the targets.
func (s *suite) summarise() {
	d := &s.doc
	for _, sc := range d.Scenarios {
		if !sc.Available {
			continue
		}
		for _, srv := range d.Servers {
			var tput, lat []results.Run
			for _, r := range d.Runs {
				if r.Scenario == sc.Name && r.Server == srv {
					if r.Kind == results.Throughput {
						tput = append(tput, r)
					} else if r.Kind == results.Latency {
						lat = append(lat, r)
					}
				}
			}
			if len(tput)+len(lat) == 0 {
				continue
			}
			c := results.Cell{Scenario: sc.Name, Server: srv, RSSMiB: s.rss[[2]string{sc.Name, srv}]}
			c.RPS = results.Median(field(tput, func(r results.Run) float64 { return r.RPS }))
			c.WrkP99 = results.Median(field(tput, func(r results.Run) float64 { return r.P99 }))
			c.USReq = results.Median(field(tput, func(r results.Run) float64 { return r.USReq }))
			c.P50 = results.Median(field(lat, func(r results.Run) float64 { return r.P50 }))
			c.P99 = results.Median(field(lat, func(r results.Run) float64 { return r.P99 }))
			c.P999 = results.Median(field(lat, func(r results.Run) float64 { return r.P999 }))
			if len(lat) > 0 {
				c.Rate = lat[0].Rate
			}
			all := append(slices.Clone(tput), lat...)
			for _, r := range all {
				c.Errors += r.Errors
				c.Unsent += r.Unsent
				c.Renders += r.Renders
			}
			c.Expect, c.RendersOK = expectation(sc.Name, srv, all)
			d.Cells = append(d.Cells, c)
		}
	}
	for i := range d.Cells {
		c := &d.Cells[i]
		ref := d.Cell(c.Scenario, static)
		c.Ref = static + "/" + c.Scenario
		if ref == nil {
			ref, c.Ref = d.Cell(hot, static), static+"/"+hot
		}
		if ref != nil {
			c.RPSRatio, c.P99Ratio, c.CPURatio = ratio(c.RPS, ref.RPS), ratio(c.P99, ref.P99), ratio(c.USReq, ref.USReq)
		} else {
			c.Ref = ""
		}
	}
	s.checks()
}

func field(runs []results.Run, f func(results.Run) float64) []float64 {
	var v []float64
	for _, r := range runs {
		v = append(v, f(r))
	}
	return v
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// checks judges the targets. Each throughput target is judged
// twice: by req/s under wrk (which one wrk thread may cap) and by
// capacity, the requests one core would serve at the measured CPU cost
// per request (1 / us_req).
func (s *suite) checks() {
	d := &s.doc
	target := func(what string, a, b *results.Cell, want float64) {
		if a == nil || b == nil {
			return
		}
		r := ratio(a.RPS, b.RPS)
		d.Checks = append(d.Checks, results.Check{What: what + ", req/s", Want: fmt.Sprintf("≥ %.1f×", want),
			Got: fmt.Sprintf("%.2f× (%.0f vs %.0f)", r, a.RPS, b.RPS), Pass: r >= want, Ratio: r})
		cr := ratio(b.USReq, a.USReq)
		d.Checks = append(d.Checks, results.Check{What: what + ", capacity (1/CPU per request)", Want: fmt.Sprintf("≥ %.1f×", want),
			Got: fmt.Sprintf("%.2f× (%.1f vs %.1f µs/req)", cr, a.USReq, b.USReq), Pass: cr >= want, Ratio: cr})
	}
	target("edge hot vs nginx-static hot", d.Cell(hot, edgeName), d.Cell(hot, static), 1.0)
	target("edge crawl-warm (disk) vs nginx-static crawl-warm", d.Cell(crawlWarm, edgeName), d.Cell(crawlWarm, static), 0.9)
	target("edge hot vs nginx proxy_cache hot", d.Cell(hot, edgeName), d.Cell(hot, proxyCache), 1.5)
	target("edge hot vs Varnish hot", d.Cell(hot, edgeName), d.Cell(hot, varnish), 2.5)
	var errs []string
	var bad []string
	for _, c := range d.Cells {
		if c.Errors > 0 {
			errs = append(errs, fmt.Sprintf("%s/%s: %d", c.Server, c.Scenario, c.Errors))
		}
		if !c.RendersOK {
			bad = append(bad, fmt.Sprintf("%s/%s: %d, want %s", c.Server, c.Scenario, c.Renders, c.Expect))
		}
	}
	d.Checks = append(d.Checks, results.Check{What: "errors, every server and scenario", Want: "0",
		Got: orNone(errs), Pass: len(errs) == 0})
	d.Checks = append(d.Checks, results.Check{What: "origin renders as stated", Want: "every cell",
		Got: orNone(bad), Pass: len(bad) == 0})
	var behind []string
	for _, c := range d.Cells {
		if c.Unsent > 0 {
			behind = append(behind, fmt.Sprintf("%s/%s: %d unsent at %g/s", c.Server, c.Scenario, c.Unsent, c.Rate))
		}
	}
	d.Checks = append(d.Checks, results.Check{What: "constant rate sustained (informative: no request left unsent)", Want: "every cell",
		Got: orNone(behind), Pass: len(behind) == 0})
	for _, sc := range d.Scenarios {
		if sc.Name == invalidate && sc.Available {
			d.Checks = append(d.Checks, results.Check{What: "invalidate: renders = invalidated pages", Want: fmt.Sprint(s.opt.invalidateN),
				Got: sc.Note, Pass: strings.Contains(sc.Note, "renders ok")})
		}
	}
}

func orNone(v []string) string {
	if len(v) == 0 {
		return "none"
	}
	return strings.Join(v, "; ")
}
