package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pregen/edge/bench/internal/loadgen"
)

const adminToken = "soak-token"

// soak is one run: its processes, addresses and what it measured.
type soak struct {
	o    options
	p    plan
	logf func(string, ...any)

	originAddr, edgeAddr, admin string
	root                        string // edge's store.root
	origin, edge                *proc
	sweep                       string // the sweep.period edge runs with, or ""
}

// report is everything the result files say.
type report struct {
	o             options
	p             plan
	date          string
	maxRPS, rate  float64
	sweep         string
	streams       []stream
	samples       []sample
	chunks        []chunkResult
	trends        []trend
	invalidations int
	outageStarted bool
	cleanExit     bool
	failures      []string
	measured      float64
}

func (s *soak) cleanup() {
	for _, p := range []*proc{s.edge, s.origin} {
		if p != nil {
			p.Stop(10 * time.Second)
		}
	}
}

func (s *soak) startOrigin(ctx context.Context) error {
	p, err := start("origin", filepath.Join(s.o.work, "origin.log"), filepath.Join(s.o.bin, "demo-origin"),
		"-listen", s.originAddr, "-latency", "5ms", "-workers", "4")
	if err != nil {
		return err
	}
	s.origin = p
	return waitHTTP(ctx, p, "http://"+s.originAddr+"/events/1", 30*time.Second)
}

// edgeYAML is edge's config: the store in the work directory without
// fsync, a memory tier smaller than the hot set (so some hits come from
// disk), the bypass cookie, and the admin API with a token.
const edgeYAML = `listen: %[1]s
hosts: ["%[1]s"]
origin:
  url: http://%[2]s
  concurrency: 4
store:
  root: %[3]s
  no_sync: true
memory:
  max_bytes: 16MiB
cache:
  bypass_cookies: [sessionid]
server:
  max_conns_per_ip: 4096
admin:
  listen: %[4]s
  token: %[5]s
regen:
  rate: 50
log:
  level: warn
`

func (s *soak) startEdge(ctx context.Context) error {
	conf := fmt.Sprintf(edgeYAML, s.edgeAddr, s.originAddr, s.root, s.admin, adminToken)
	period, auto := strings.CutPrefix(s.o.sweep, "auto:")
	if s.o.sweep != "off" {
		conf += "sweep:\n  period: " + period + "\n"
	}
	for {
		path := filepath.Join(s.o.work, "edge.yaml")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return err
		}
		p, err := start("edge", filepath.Join(s.o.work, "edge.log"), filepath.Join(s.o.bin, "edge"), "serve", "-config", path)
		if err != nil {
			return err
		}
		s.edge = p
		err = waitHTTP(ctx, p, "http://"+s.admin+"/healthz", 30*time.Second)
		if err != nil && auto && p.Exited() && strings.Contains(err.Error(), "sweep") {
			// This build of edge has no sweep yet: run without it.
			s.logf("edge does not know sweep.period; running without the sweep")
			conf, auto = conf[:strings.Index(conf, "sweep:")], false
			continue
		}
		if err == nil && s.o.sweep != "off" && strings.Contains(conf, "sweep:") {
			s.sweep = period
		}
		return err
	}
}

func (s *soak) run(ctx context.Context) (*report, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s.originAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	s.edgeAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.admin = fmt.Sprintf("127.0.0.1:%d", ports[2])
	if s.root, err = filepath.Abs(filepath.Join(s.o.work, "pages")); err != nil {
		return nil, err
	}
	if err := s.startOrigin(ctx); err != nil {
		return nil, err
	}
	if err := s.startEdge(ctx); err != nil {
		return nil, err
	}
	s.logf("origin %s, edge %s, admin %s, sweep %q", s.originAddr, s.edgeAddr, s.admin, s.sweep)

	// Fill the hot set, then measure the maximum hit throughput.
	fill, err := loadgen.Run(ctx, loadgen.Config{Addr: s.edgeAddr, Paths: loadgen.Seq("/events/", 1),
		Count: uint64(s.o.pages), Conns: 8, Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	if fill.Requests != uint64(s.o.pages) || fill.Non2xx > 0 {
		return nil, fmt.Errorf("filling /events/1..%d: %d answers, %d errors, statuses %v", s.o.pages, fill.Requests, fill.Errors, fill.Statuses)
	}
	hits, err := loadgen.Zipf("/events/", uint64(s.o.pages), uint64(s.o.pages), 1, 1.0)
	if err != nil {
		return nil, err
	}
	rep := &report{o: s.o, p: s.p, date: time.Now().UTC().Format("2006-01-02 15:04 MST")}
	rep.measured = min(max(s.o.dur.Seconds()/60, 5), 20)
	if _, err := loadgen.Run(ctx, loadgen.Config{Addr: s.edgeAddr, Paths: hits, Duration: 2 * time.Second, Conns: 64}); err != nil {
		return nil, err // a short warm-up of the connections and the memory tier
	}
	peak, err := loadgen.Run(ctx, loadgen.Config{Addr: s.edgeAddr, Paths: hits,
		Duration: time.Duration(rep.measured * float64(time.Second)), Conns: 64})
	if err != nil {
		return nil, err
	}
	rep.maxRPS, rep.rate = peak.RPS, s.o.load*peak.RPS
	if s.o.rate > 0 {
		rep.rate = s.o.rate
	}
	s.logf("maximum: %.0f hits/s over %.0fs (closed loop, 64 connections); soak rate %.0f/s for %v, outage at %.0fs-%.0fs",
		peak.RPS, rep.measured, rep.rate, s.o.dur, s.p.outStart, s.p.outEnd)
	if rep.rate <= s.o.missRate+s.o.bypassRate {
		return nil, fmt.Errorf("rate %.0f/s leaves nothing for hits after %g misses/s and %g bypass/s", rep.rate, s.o.missRate, s.o.bypassRate)
	}

	rep.streams = []stream{
		{name: "hit", rate: rep.rate - s.o.missRate - s.o.bypassRate, conns: 64,
			paths: func(int, uint64) loadgen.PathFunc { return hits }},
		{name: "miss", rate: s.o.missRate, conns: 8,
			paths: func(_ int, sent uint64) loadgen.PathFunc {
				return loadgen.Seq("/events/", uint64(s.o.pages)+1000+sent)
			}},
		{name: "bypass", rate: s.o.bypassRate, conns: 8, header: [][2]string{{"Cookie", "sessionid=soak"}},
			paths: func(int, uint64) loadgen.PathFunc { return loadgen.Uniform("/events/", 1, uint64(s.o.pages)) }},
	}
	rep.sweep = s.sweep
	s.traffic(ctx, rep)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep.cleanExit = s.edge.Stop(30 * time.Second)
	s.origin.Stop(10 * time.Second)
	rep.judge()
	return rep, nil
}

// traffic runs the streams, the sampler, the invalidator and the outage for
// the run's duration.
func (s *soak) traffic(ctx context.Context, rep *report) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunk := min(s.o.every, 5*time.Second)
	n := int(math.Ceil(float64(s.o.dur) / float64(chunk)))
	t0 := time.Now()
	tl := &tally{}
	iv := &invalidator{admin: s.admin, token: adminToken, pages: s.o.pages}
	var wg sync.WaitGroup
	for _, st := range rep.streams {
		wg.Go(func() { runStream(ctx, s.edgeAddr, t0, chunk, n, st, tl) })
	}
	wg.Go(func() { iv.run(ctx, s.o.every) })
	var outageErr error
	wg.Go(func() { outageErr = s.outage(ctx, t0, rep) })

	tick := time.NewTicker(s.o.every)
	end := time.NewTimer(s.o.dur + time.Second)
sampling:
	for {
		select {
		case <-ctx.Done():
			break sampling
		case <-end.C:
			break sampling
		case <-tick.C:
		}
		t := time.Since(t0).Seconds()
		smp, err := measure(ctx, s.edge.Pid(), s.admin, s.root)
		if err != nil {
			rep.failures = append(rep.failures, fmt.Sprintf("sampling at %.0fs: %v", t, err))
			if s.edge.Exited() {
				rep.failures = append(rep.failures, "edge exited: "+s.edge.Tail())
				break
			}
			continue
		}
		smp.T, smp.Phase = math.Round(t), s.p.phase(t)
		smp.Requests, smp.Status5xx, smp.Errors = tl.take()
		rep.samples = append(rep.samples, smp)
		s.logf("t=%4.0fs %-7s rss %6d KiB (anon %6d)  goroutines %4d  fds %4d  disk %7.1f MiB  pages %6d  tmp %d  req %6d  5xx %d  err %d",
			t, smp.Phase, smp.RSSKiB, smp.AnonKiB, smp.Goroutines, smp.FDs, float64(smp.DiskBytes)/(1<<20),
			smp.Pages, smp.TmpFiles, smp.Requests, smp.Status5xx, smp.Errors)
	}
	tick.Stop()
	cancel()
	wg.Wait()
	if outageErr != nil {
		rep.failures = append(rep.failures, "restarting the origin: "+outageErr.Error())
	}
	rep.chunks = tl.all()
	posted, failures := iv.result()
	rep.invalidations = posted
	for _, f := range failures {
		rep.failures = append(rep.failures, "invalidation refused: "+f)
	}
}

// outage stops the origin at the plan's start and starts it again at its
// end.
func (s *soak) outage(ctx context.Context, t0 time.Time, rep *report) error {
	if s.p.outEnd <= s.p.outStart {
		return nil
	}
	at := func(sec float64) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(t0.Add(time.Duration(sec * float64(time.Second))))):
			return true
		}
	}
	if !at(s.p.outStart) {
		return nil
	}
	s.logf("outage: stopping the origin")
	s.origin.Stop(10 * time.Second)
	rep.outageStarted = true
	if !at(s.p.outEnd) {
		return nil
	}
	s.logf("outage over: starting the origin")
	if err := s.startOrigin(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
