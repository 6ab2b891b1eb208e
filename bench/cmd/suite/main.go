// Command suite runs edge and its peers through the load scenarios of
// issue 3 on one machine and writes the results: bench/results/<date>.md
// (tables and the exact commands) and <date>.json (every run, the medians,
// the ratios; bench/cmd/benchchart draws the SVG from it).
//
// Each server is pinned to CPU 0 and the load generators (wrk for
// throughput, bench/cmd/ratectl at a constant rate for latency) to CPU 1:
//
//   - edge (GOMAXPROCS=1), its memory tier smaller than the crawl set;
//   - nginx-static: nginx serving edge's store root from disk (sendfile,
//     open_file_cache), the reference of every ratio;
//   - nginx-proxy_cache and varnish (malloc storage) in front of the demo
//     origin;
//   - origin: the demo origin alone (30 ms a render, 4 workers), the floor.
//
// Before measuring, the suite generates the crawl set (-pages pages)
// through edge, nginx proxy_cache and Varnish from an origin without
// render latency, then swaps in the slow origin on the same port. It runs
// on 127.0.0.1 only, stops every process it started (by pid), and every
// load run is bounded in time; so is the whole suite (-deadline).
//
// bench/suite.sh installs the tools, builds the binaries, waits for a
// quiet machine and runs it; see bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pregen/edge/bench/internal/loadgen"
	"github.com/pregen/edge/bench/internal/results"
	"golang.org/x/sync/errgroup"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "suite:", err)
		os.Exit(1)
	}
}

type options struct {
	bin, work, out, date         string
	keep, perf                   bool
	rounds                       int
	duration, warmup, wrkTimeout time.Duration
	deadline                     time.Duration
	quietMax                     float64
	quietWait, quietBudget       time.Duration
	conns, stampedeConns         int
	crawlCount, pages, hot       int
	invalidateN                  int
	invalidateWait               time.Duration
	regenRate                    float64
	hotShare, rate, originRate   float64
	latency                      time.Duration
	workers, warmConns           int
	memory, varnishMem           string
	scenarios, servers           []string
}

// suite is one run: its options, the processes it started and what it
// measured.
type suite struct {
	opt     options
	repo    string // the repository root (bench/wrk is under it)
	work    string
	http    *http.Client
	procs   []*proc
	servers []*server // the servers under test, in allServers order
	origin  *server   // the demo origin every proxy fills from
	admin   string    // edge's admin address
	session string    // a logged-in session cookie value at the origin

	nextEvent, nextPerson uint64        // fresh pages for crawl-cold and stampede
	quietSpent            time.Duration // waited for quiet CPUs so far
	raw                   []string
	rss                   map[[2]string]float64 // scenario, server → peak RSS MiB
	rssResetFailed        bool                  // the kernel refused to reset a VmHWM
	doc                   results.Doc
	started               time.Time
}

const adminToken = "edge-bench-token"

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "", "`dir` holding edge, demo-origin and ratectl (required)")
	fs.StringVar(&o.work, "work", "", "scratch `dir` (default: a new temp dir, removed at the end)")
	fs.StringVar(&o.out, "out", "bench/results", "where to write <date>.md and <date>.json")
	fs.StringVar(&o.date, "date", time.Now().Format("2006-01-02"), "name of the results files")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch dir")
	fs.BoolVar(&o.perf, "perf", false, "record a perf profile of edge and nginx-static in hot and crawl-warm")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; the tables give medians")
	fs.DurationVar(&o.duration, "d", 5*time.Second, "length of each measured run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "one unreported run per server before the rounds of a cache scenario")
	fs.DurationVar(&o.wrkTimeout, "wrk-timeout", 5*time.Second, "wrk's request timeout")
	fs.DurationVar(&o.deadline, "deadline", 40*time.Minute, "the whole suite stops after this")
	fs.Float64Var(&o.quietMax, "quiet-max", 10, "before each run, wait while other processes keep a CPU busier than this (% of time some task waited, /proc/pressure/cpu); 0 never waits")
	fs.DurationVar(&o.quietWait, "quiet-wait", 30*time.Second, "longest wait for a quiet CPU before one run")
	fs.DurationVar(&o.quietBudget, "quiet-budget", 5*time.Minute, "longest wait for quiet CPUs over the whole suite")
	fs.IntVar(&o.conns, "c", 64, "connections of the load generators")
	fs.IntVar(&o.stampedeConns, "stampede-c", 1000, "connections of the stampede")
	fs.IntVar(&o.crawlCount, "crawl-count", 1000, "new pages per crawl-cold throughput run")
	fs.IntVar(&o.pages, "pages", 100000, "stored pages of crawl-warm and zipf (/events/1..N)")
	fs.IntVar(&o.hot, "hot", 1000, "the Zipf hot set")
	fs.Float64Var(&o.hotShare, "hot-share", 0.9, "share of zipf requests that go to the hot set")
	fs.IntVar(&o.invalidateN, "invalidate-n", 10000, "pages invalidated in the invalidate scenario")
	fs.DurationVar(&o.invalidateWait, "invalidate-wait", 3*time.Minute, "how long to wait for their regeneration")
	fs.Float64Var(&o.regenRate, "regen-rate", 0, "edge's regen.rate (regenerations a second) for the invalidate scenario; 0 keeps edge's default")
	fs.Float64Var(&o.rate, "rate", 10000, "constant rate (req/s) of the latency runs of the caches")
	fs.Float64Var(&o.originRate, "origin-rate", 100, "constant rate of runs that reach the origin (its ceiling is ~133/s)")
	fs.DurationVar(&o.latency, "latency", 30*time.Millisecond, "the demo origin's render time")
	fs.IntVar(&o.workers, "workers", 4, "the demo origin's workers (and edge's origin.concurrency)")
	fs.IntVar(&o.warmConns, "warm-c", 16, "connections of the page generation before the rounds")
	fs.StringVar(&o.memory, "memory", "64MiB", "edge's memory.max_bytes")
	fs.StringVar(&o.varnishMem, "varnish-mem", "4G", "Varnish malloc storage size")
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "scenarios to run")
	srvs := fs.String("servers", strings.Join(allServers, ","), "servers to run")
	rerender := fs.String("rerender", "", "only rewrite <date>.md and .json from an earlier run's JSON `file` (no load)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rerender != "" {
		return rerenderDoc(*rerender, o)
	}
	o.scenarios, o.servers = strings.Split(*scen, ","), strings.Split(*srvs, ",")
	for _, v := range o.scenarios {
		if !slices.Contains(allScenarios, v) {
			return fmt.Errorf("unknown scenario %q (have %s)", v, strings.Join(allScenarios, ", "))
		}
	}
	for _, v := range o.servers {
		if !slices.Contains(allServers, v) {
			return fmt.Errorf("unknown server %q (have %s)", v, strings.Join(allServers, ", "))
		}
	}
	if !slices.Contains(o.servers, edgeName) {
		o.servers = append([]string{edgeName}, o.servers...) // nginx-static serves edge's store
	}
	if o.bin == "" || o.rounds < 1 || o.pages < o.invalidateN && slices.Contains(o.scenarios, invalidate) || o.hot > o.pages {
		return errors.New("need -bin, -rounds ≥ 1, -hot ≤ -pages and -invalidate-n ≤ -pages")
	}
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, "bench/wrk/report.lua")); err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	s := &suite{opt: o, repo: repo, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{DisableCompression: true}},
		rss: map[[2]string]float64{}, started: time.Now()}
	if s.work = o.work; s.work == "" {
		if s.work, err = os.MkdirTemp("", "edge-suite-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(s.work, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.deadline)
	defer cancel()
	defer s.cleanup()
	return s.run(ctx)
}

// rerenderDoc recomputes the cells and checks of an earlier run and
// rewrites its markdown and JSON beside it (after a change to the report).
func rerenderDoc(path string, o options) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	d, err := results.Read(f)
	f.Close()
	if err != nil {
		return err
	}
	if v, err := strconv.Atoi(d.Meta.Settings["rounds"]); err == nil {
		o.rounds = v
	}
	if v, err := time.ParseDuration(d.Meta.Settings["duration"]); err == nil {
		o.duration = v
	}
	s := &suite{opt: o, doc: *d, rss: map[[2]string]float64{}}
	for _, c := range d.Cells {
		s.rss[[2]string{c.Scenario, c.Server}] = c.RSSMiB
	}
	for _, r := range d.Runs {
		s.raw = append(s.raw, fmt.Sprintf("%-10s %-17s r%d %-10s %s", r.Scenario, r.Server, r.Round, r.Kind, runLine(r)))
	}
	s.doc.Cells, s.doc.Checks = nil, nil
	s.summarise()
	base := strings.TrimSuffix(path, ".json")
	if err := s.doc.Write(base + ".json"); err != nil {
		return err
	}
	return os.WriteFile(base+".md", []byte(s.markdown()), 0o644)
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "==> [%5.0fs] %s\n", time.Since(s.started).Seconds(), fmt.Sprintf(format, args...))
}

func (s *suite) bin(name string) string { return filepath.Join(s.opt.bin, name) }

func (s *suite) script(name string) string { return filepath.Join("bench/wrk", name) }

func (s *suite) start(name, cpu string, env []string, argv ...string) (*proc, error) {
	p, err := start(s.work, name, cpu, env, argv...)
	if err == nil {
		s.procs = append(s.procs, p)
	}
	return p, err
}

func (s *suite) cleanup() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].Stop(15 * time.Second)
	}
	if !s.opt.keep {
		// Every server's copy of every page: minutes on a slow disk.
		s.logf("removing the scratch dir %s (-keep keeps it)", s.work)
		os.RemoveAll(s.work)
	} else {
		s.logf("scratch dir kept: %s", s.work)
	}
}

func (s *suite) server(name string) *server {
	for _, srv := range s.servers {
		if srv.name == name {
			return srv
		}
	}
	return nil
}

func (s *suite) wants(name string) bool { return slices.Contains(s.opt.servers, name) }

func (s *suite) run(ctx context.Context) error {
	o := s.opt
	psiBefore, psi0 := pressure()
	s.doc = results.Doc{Date: o.date, Meta: s.meta()}
	if c := os.Getenv("SUITE_COMMAND"); c != "" {
		s.doc.Meta.Commands = append(s.doc.Meta.Commands, c+"   # which runs:")
	}
	s.doc.Meta.Commands = append(s.doc.Meta.Commands, commandLine())
	s.doc.Meta.PSIBefore = psiBefore
	s.logf("work dir %s; CPU pressure now: %s", s.work, psiBefore)
	if err := s.setup(ctx); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	s.doc.Meta.SetupTimeS = time.Since(s.started).Seconds()
	for _, name := range allServers {
		if srv := s.server(name); srv != nil {
			s.doc.Servers = append(s.doc.Servers, name)
		}
	}
	for _, name := range allScenarios {
		if !slices.Contains(o.scenarios, name) {
			continue
		}
		if err := s.scenario(ctx, name); err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
	}
	psiAfter, psi1 := pressure()
	s.doc.Meta.PSIAfter = psiAfter
	s.doc.Meta.WallTimeS = time.Since(s.started).Seconds()
	s.doc.Meta.PSIShare = 100 * float64(psi1-psi0) / 1e6 / s.doc.Meta.WallTimeS
	s.summarise()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	base := filepath.Join(o.out, o.date)
	if err := s.doc.Write(base + ".json"); err != nil {
		return err
	}
	if err := os.WriteFile(base+".md", []byte(s.markdown()), 0o644); err != nil {
		return err
	}
	s.logf("wrote %s.md and %s.json (%.0f s in all)", base, base, s.doc.Meta.WallTimeS)
	return nil
}

// setup starts every server, generates the stored pages through the
// caches from an origin without latency, then swaps in the slow origin.
func (s *suite) setup(ctx context.Context) error {
	o := s.opt
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	s.origin = &server{name: originName, addr: addr(0)}
	s.admin = addr(2)
	root := filepath.Join(s.work, "pages")
	for _, d := range []string{"nginx-static-tmp", "nginx-proxy_cache-tmp"} {
		if err := os.MkdirAll(filepath.Join(s.work, d), 0o755); err != nil {
			return err
		}
	}

	fast, err := s.start("origin-fast", "", nil, s.bin("demo-origin"), "-listen", s.origin.addr, "-latency", "0", "-workers", "8")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, fast, s.origin.url()+"/_origin/stats", 200, 15*time.Second); err != nil {
		return err
	}
	edgeConf, err := tmpl(s.work, "edge.yaml", edgeYAML, configData{Addr: addr(1), Admin: s.admin,
		Origin: s.origin.url(), Root: root, Memory: o.memory, Token: adminToken, Workers: o.workers, RegenRate: o.regenRate})
	if err != nil {
		return err
	}
	edgeWarm, err := s.start("edge-warm", "", []string{"GOMAXPROCS=2"}, s.bin("edge"), "serve", "-config", edgeConf)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, edgeWarm, "http://"+s.admin+"/healthz", 200, 15*time.Second); err != nil {
		return err
	}
	warm := []*server{{name: edgeName, addr: addr(1), proc: edgeWarm}}

	if s.wants(proxyCache) {
		conf, err := tmpl(s.work, "nginx-proxy_cache.conf", nginxConf, configData{Dir: s.work, Name: proxyCache,
			Addr: addr(4), Origin: s.origin.addr, ProxyCache: true})
		if err != nil {
			return err
		}
		p, err := s.start(proxyCache, serverCPU, nil, nginxArgv(s.work, conf)...)
		if err != nil {
			return err
		}
		srv := &server{name: proxyCache, addr: addr(4), proc: p}
		if err := waitHTTP(ctx, p, srv.url()+"/events/1", 200, 15*time.Second); err != nil {
			return err
		}
		warm = append(warm, srv)
	}
	if s.wants(varnish) {
		vcl, err := tmpl(s.work, "varnish.vcl", varnishVCL, configData{OriginPort: ports[0]})
		if err != nil {
			return err
		}
		if err := writeSecret(s.work); err != nil {
			return err
		}
		p, err := s.start(varnish, serverCPU, nil, varnishArgv(s.work, addr(5), addr(6), vcl, o.varnishMem)...)
		if err != nil {
			return err
		}
		srv := &server{name: varnish, addr: addr(5), proc: p}
		if err := waitHTTP(ctx, p, srv.url()+"/events/1", 200, 30*time.Second); err != nil {
			return err
		}
		warm = append(warm, srv)
	}

	// Generate the crawl set through every cache at once, from the fast
	// origin: each page is rendered once per cache and stored.
	t0 := time.Now()
	s.logf("generating %d pages through %d caches (%d connections each)", o.pages, len(warm), o.warmConns)
	g, gctx := errgroup.WithContext(ctx)
	for _, srv := range warm {
		g.Go(func() error {
			res, err := loadgen.Run(gctx, loadgen.Config{Addr: srv.addr, Paths: loadgen.Seq("/events/", 1),
				Count: uint64(o.pages), Conns: o.warmConns, Timeout: 60 * time.Second})
			if err != nil {
				return fmt.Errorf("generating through %s: %w", srv.name, err)
			}
			if res.Requests != uint64(o.pages) || res.Errors+res.Non2xx > 0 {
				return fmt.Errorf("generating through %s: %d of %d answered, %d errors, statuses %v",
					srv.name, res.Requests, o.pages, res.Errors, res.Statuses)
			}
			s.logf("%s: %d pages in %.0fs, X-Cache %v", srv.name, res.Requests, res.Seconds, res.XCache)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	s.doc.Meta.Settings["generation"] = fmt.Sprintf("%d pages through %d caches in %.0f s", o.pages, len(warm), time.Since(t0).Seconds())

	// Swap in the measured processes: edge pinned with one P, the slow
	// origin on the same port (the proxies reconnect to it).
	edgeWarm.Stop(60 * time.Second)
	fast.Stop(15 * time.Second)
	op, err := s.start(originName, serverCPU, nil, s.bin("demo-origin"), "-listen", s.origin.addr,
		"-latency", o.latency.String(), "-workers", fmt.Sprint(o.workers))
	if err != nil {
		return err
	}
	s.origin.proc = op
	if err := waitHTTP(ctx, op, s.origin.url()+"/_origin/stats", 200, 15*time.Second); err != nil {
		return err
	}
	ep, err := s.start(edgeName, serverCPU, []string{"GOMAXPROCS=1"}, s.bin("edge"), "serve", "-config", edgeConf)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, ep, "http://"+s.admin+"/healthz", 200, 15*time.Second); err != nil {
		return err
	}
	byName := map[string]*server{edgeName: {name: edgeName, addr: addr(1), proc: ep}, originName: s.origin}
	for _, w := range warm[1:] {
		byName[w.name] = w
	}
	if s.wants(static) {
		conf, err := tmpl(s.work, "nginx-static.conf", nginxConf, configData{Dir: s.work, Name: static, Addr: addr(3), Root: root})
		if err != nil {
			return err
		}
		p, err := s.start(static, serverCPU, nil, nginxArgv(s.work, conf)...)
		if err != nil {
			return err
		}
		byName[static] = &server{name: static, addr: addr(3), proc: p}
		if err := waitHTTP(ctx, p, byName[static].url()+hotPath, 200, 15*time.Second); err != nil {
			return err
		}
	}
	for _, name := range allServers {
		if srv := byName[name]; srv != nil && s.wants(name) {
			s.servers = append(s.servers, srv)
		}
	}
	if s.session, err = s.login(ctx); err != nil {
		return err
	}
	return s.verify(ctx)
}

// login logs a user in at the origin and returns the session cookie.
func (s *suite) login(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.origin.url()+"/accounts/login?user=bench", nil)
	if err != nil {
		return "", err
	}
	resp, err := s.http.Transport.RoundTrip(req) // no redirects followed
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "sessionid" && c.Value != "" {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("login: no sessionid cookie (status %d)", resp.StatusCode)
}

// verify checks that every server sends the same body for the hot page,
// and that the caches answer it from their store.
func (s *suite) verify(ctx context.Context) error {
	var ref []byte
	for _, srv := range s.servers {
		var body []byte
		var xc string
		for range 2 { // the second answer of edge is a memory hit
			req, err := http.NewRequestWithContext(ctx, "GET", srv.url()+hotPath, nil)
			if err != nil {
				return err
			}
			resp, err := s.http.Do(req)
			if err != nil {
				return fmt.Errorf("%s: %w", srv.name, err)
			}
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				return fmt.Errorf("%s %s: status %d, %v", srv.name, hotPath, resp.StatusCode, err)
			}
			xc = resp.Header.Get("X-Cache")
		}
		if ref == nil {
			ref = body
		} else if string(body) != string(ref) {
			return fmt.Errorf("%s sends %d bytes for %s, edge %d: not the same page", srv.name, len(body), hotPath, len(ref))
		}
		if srv.name != originName && srv.name != static && xc != "HIT" {
			return fmt.Errorf("%s: %s is not a HIT after generation (X-Cache %q)", srv.name, hotPath, xc)
		}
		s.logf("%s: %s, %d bytes, X-Cache %q", srv.name, hotPath, len(body), xc)
	}
	s.doc.Meta.Settings["page bytes"] = fmt.Sprint(len(ref))
	return nil
}

// meta describes the machine and the software.
func (s *suite) meta() results.Meta {
	o := s.opt
	m := results.Meta{Versions: map[string]string{}, StartedAt: time.Now().UTC().Format(time.RFC3339)}
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	m.Machine = fmt.Sprintf("%d CPUs (%s), Linux %s", numCPU(), cpu, strings.TrimSpace(string(kernel)))
	for name, argv := range map[string][]string{
		"wrk": {"wrk", "-v"}, "nginx": {"nginx", "-v"}, "varnish": {"varnishd", "-V"}, "go": {"go", "version"},
		"edge": {s.bin("edge"), "version"},
	} {
		m.Versions[name] = firstLine(argv...)
	}
	// "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer"
	m.Versions["wrk"], _, _ = strings.Cut(m.Versions["wrk"], " [")
	m.Commit = firstLine("git", "describe", "--always", "--dirty")
	m.Settings = map[string]string{
		"rounds": fmt.Sprint(o.rounds), "duration": o.duration.String(), "warmup": o.warmup.String(),
		"connections": fmt.Sprint(o.conns), "stampede connections": fmt.Sprint(o.stampedeConns),
		"constant rate (caches)": fmt.Sprintf("%g/s", o.rate), "constant rate (origin-bound)": fmt.Sprintf("%g/s", o.originRate),
		"origin":           fmt.Sprintf("demo origin, %v a render, %d workers", o.latency, o.workers),
		"edge memory tier": o.memory, "stored pages": fmt.Sprint(o.pages), "varnish storage": "malloc," + o.varnishMem,
		"wrk timeout": o.wrkTimeout.String(),
	}
	return m
}

func firstLine(argv ...string) string {
	out, _ := execOutput(argv...)
	for l := range strings.SplitSeq(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return "?"
}
