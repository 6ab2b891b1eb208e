package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/origin"
	"github.com/pregen/edge/internal/store"
	"github.com/valyala/fasthttp"
)

// genGiveUpAfter stops a run whose pages fail this many times in a row:
// the origin is down, and carrying on would only fill the failures file.
const genGiveUpAfter = 100

// genOptions are edge gen's flags beyond the config.
type genOptions struct {
	urls, sitemap  string
	shard, shards  int
	since          time.Duration
	concurrency    int
	rate           float64
	failures       string
	maxFailures    int64
	progress       string
	fresh          bool
	enqueue        bool   // publish the pages for workers instead of making them
	natsURL        string // -nats, overrides nats.url
	sinceText      string // -since as given, part of the run's identity
	sourceIdentity string // the source, normalised, part of the run's identity
}

// runID names the run for its journal: the arguments that decide which
// pages it makes (not pace, progress or output files).
func (o *genOptions) runID() string {
	return gen.RunID("edge gen v1", o.sourceIdentity, fmt.Sprintf("%d/%d", o.shard, o.shards), o.sinceText)
}

// describe is the run's arguments for people (journal files, logs).
func (o *genOptions) describe() string {
	s := "edge gen " + o.sourceIdentity
	if o.shards > 1 {
		s += fmt.Sprintf(" -shard %d/%d", o.shard, o.shards)
	}
	if o.sinceText != "" {
		s += " -since " + o.sinceText
	}
	return s
}

// genCmd is `edge gen`: it makes every page a sitemap or URL list names.
// With the store free it runs here, with its own origin client and budget;
// when a running server holds the store it sends the run to that server's
// admin API (POST /gen), which makes the pages at bulk priority under its
// own budget, and reports its progress.
func genCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return genMain(ctx, args, os.Stdin, stdout, stderr)
}

// genMain is genCmd with standard input given (tests).
func genMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen", stderr)
	var cf commonFlags
	fs.StringVar(&cf.config, "config", "", "YAML config `file` (defaults are built in)")
	fs.StringVar(&cf.origin, "origin", "", "origin `URL` (overrides origin.url)")
	fs.StringVar(&cf.root, "root", "", "store `directory` (overrides store.root)")
	fs.StringVar(&cf.admin, "admin", "", "admin API `address` of a running server (overrides admin.listen)")
	var o genOptions
	var shard string
	fs.StringVar(&o.urls, "urls", "", "URL list `file`: one URL or path per line, - for standard input")
	fs.StringVar(&o.sitemap, "sitemap", "", "sitemap or sitemap index: http(s) `URL` or file (gzip'd or not)")
	fs.StringVar(&shard, "shard", "", "make only shard `I/N` of the pages (0 ≤ I < N), by a stable hash of the key")
	fs.StringVar(&o.sinceText, "since", "", "skip pages generated less than `DURATION` ago (e.g. 12h)")
	fs.IntVar(&o.concurrency, "concurrency", 0, "origin requests at once (`N`; default origin.concurrency, or the server's budget)")
	fs.Float64Var(&o.rate, "rate", 0, "at most `PAGES` asked of the origin per second (default no cap)")
	fs.StringVar(&o.failures, "failures", "edge-gen-failed.txt", "append failed URLs to `file` (a URL list for -urls)")
	fs.Int64Var(&o.maxFailures, "max-failures", 0, "exit 1 when more than `N` pages or sitemaps fail")
	fs.StringVar(&o.progress, "progress", "auto", "`mode`: bar, log (a line every 5s), none, or auto (bar on a terminal)")
	fs.BoolVar(&o.fresh, "fresh", false, "start over: forget an interrupted earlier attempt of the same run")
	fs.BoolVar(&o.enqueue, "enqueue", false, "publish the pages on the cluster's work queue for edge worker instead of making them here")
	fs.StringVar(&o.natsURL, "nats", "", "NATS `URL` for -enqueue (overrides nats.url)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := o.check(shard); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	logger := newGenLogger(cfg, stderr)
	return genRun(ctx, cfg, cf.config, &o, stdin, stdout, stderr, logger)
}

// check validates the flags and fills the derived fields.
func (o *genOptions) check(shard string) error {
	usage := func(format string, args ...any) error {
		return fmt.Errorf("%w: gen: %s", errUsage, fmt.Sprintf(format, args...))
	}
	switch {
	case (o.urls == "") == (o.sitemap == ""):
		return usage("give exactly one of -urls FILE and -sitemap URL|FILE")
	case o.concurrency < 0:
		return usage("-concurrency must not be negative")
	case o.rate < 0:
		return usage("-rate must not be negative")
	case o.maxFailures < 0:
		return usage("-max-failures must not be negative")
	}
	switch o.progress {
	case "auto", "bar", "log", "none":
	default:
		return usage("-progress %q: want auto, bar, log or none", o.progress)
	}
	if shard != "" {
		var err error
		if o.shard, o.shards, err = parseShard(shard); err != nil {
			return usage("-shard %v", err)
		}
	}
	if o.sinceText != "" {
		d, err := time.ParseDuration(o.sinceText)
		if err != nil || d <= 0 {
			return usage("-since %q: want a positive duration such as 30m or 12h", o.sinceText)
		}
		o.since = d
	}
	switch {
	case o.urls == "-":
		o.sourceIdentity = "-urls -"
	case o.urls != "":
		abs, err := filepath.Abs(o.urls)
		if err != nil {
			return usage("-urls: %v", err)
		}
		o.sourceIdentity = "-urls " + abs
		if f, err := filepath.Abs(o.failures); err == nil && f == abs {
			return usage("-failures names the -urls file; give another file")
		}
	case isURL(o.sitemap):
		o.sourceIdentity = "-sitemap " + o.sitemap
	default:
		abs, err := filepath.Abs(o.sitemap)
		if err != nil {
			return usage("-sitemap: %v", err)
		}
		o.sourceIdentity = "-sitemap " + abs
	}
	return nil
}

// parseShard parses "I/N" (0 ≤ I < N).
func parseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("%q: want I/N with 0 ≤ I < N, e.g. 0/4", s)
	}
	return i, n, nil
}

func isURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

func newGenLogger(cfg Config, w io.Writer) *slog.Logger {
	lvl, _ := parseLevel(cfg.Log.Level)
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// genKeys builds the key rules exactly as Main.build does, so a bulk run
// makes the keys the server serves.
func genKeys(cfg Config, configName string) (*cachekey.Normalizer, error) {
	keys, err := cachekey.New(cachekey.Rules{
		Hosts: cfg.Hosts, QueryAllow: cfg.Cache.QueryAllow, QueryIgnore: nonNil(cfg.Cache.QueryIgnore),
		MaxURIBytes: cfg.Cache.MaxURIBytes,
	})
	if err != nil {
		return nil, &ConfigError{File: configName, Key: "hosts", Err: err}
	}
	return keys, nil
}

// genRun runs edge gen: standalone if the store is free, else through the
// running server's admin API.
func genRun(ctx context.Context, cfg Config, configPath string, o *genOptions, stdin io.Reader, stdout, stderr io.Writer, logger *slog.Logger) error {
	configName := configPath
	if configName == "" {
		configName = "flags"
	}
	keys, err := genKeys(cfg, configName)
	if err != nil {
		return err
	}
	if o.enqueue {
		return genEnqueue(ctx, cfg, keys, o, stdin, stdout, stderr, logger)
	}
	st, err := store.Open(cfg.Store.Root, store.Options{NoSync: cfg.Store.NoSync, Logger: logger})
	if errors.Is(err, store.ErrLocked) {
		logger.Info("edge gen: a running server holds the store; sending the run to its admin API",
			"root", cfg.Store.Root, "admin", cfg.Admin.Listen)
		return genViaAdmin(ctx, cfg, keys, o, stdin, stdout, stderr, logger)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			logger.Error("closing the store", "err", err)
		}
	}()
	// With an S3 tier, pages go to S3 first, then local disk; writes S3
	// refuses are queued in the store and delivered during the run, or by
	// the next process on this store.
	var pages gen.Store = st
	s3t, err := newS3Tier(cfg.S3, st, logger)
	if err != nil {
		return &ConfigError{File: configName, Key: "s3", Err: err}
	}
	if s3t != nil {
		pages = s3t
		defer runS3Tier(s3t, logger, "edge gen")()
	}

	slots := o.concurrency
	if slots == 0 {
		slots = cfg.Origin.Concurrency
	}
	oc, err := origin.New(origin.Config{
		URL: cfg.Origin.URL, ConnectTimeout: cfg.Origin.ConnectTimeout,
		FirstByteTimeout: cfg.Origin.FirstByteTimeout, Timeout: cfg.Origin.Timeout,
		MaxConns: cfg.Origin.MaxConns, MaxResponseBytes: int(cfg.Origin.MaxResponseBytes),
		// timedOrigin below holds the run's budget; this one is never
		// contended.
		Budget: origin.NewBudget(slots, 0),
	})
	if err != nil {
		return &ConfigError{File: configName, Key: "origin.url", Err: err}
	}
	defer oc.Close()
	b := &gen.Bulk{}
	g := &gen.Generator{
		Origin: timedOrigin{oc, origin.NewBudget(slots, 0), b.ObserveOrigin}, Store: pages,
		MaxObjectBytes: int(cfg.Store.MaxObjectBytes), GzipLevel: cfg.Store.GzipLevel,
		BrotliLevel: cfg.Store.BrotliLevel, Proto: cfg.Origin.ForwardedProto,
	}

	journal, err := openGenJournal(cfg.Store.Root, o.runID(), o.describe(), o.fresh, logger)
	if err != nil {
		return err
	}
	src, closeSrc, err := genSource(ctx, cfg, keys, o, stdin)
	if err != nil {
		return err
	}
	defer closeSrc()
	failures := &appendFile{path: o.failures}
	defer failures.Close()

	*b = gen.Bulk{
		Maker: g, Keys: keys, Source: src, BypassPaths: cfg.Cache.BypassPaths,
		Generated: storeGenerated(st), Cutoff: genCutoff(journal.Started, o.since),
		Shard: o.shard, Shards: o.shards, Priority: edge.PriorityBulk,
		// Twice as many workers as origin slots: while some pages are being
		// compressed and written, the origin is kept busy with others. The
		// budget still caps the origin requests in flight at slots.
		Concurrency: 2 * slots, Rate: o.rate, GiveUpAfter: genGiveUpAfter,
		Failures: failures, Known: st,
	}
	sum, runErr := runReported(ctx, b, cfg, keys, o, stderr, logger)

	if runErr == nil {
		if err := journal.Remove(); err != nil {
			logger.Warn("edge gen: could not remove the run journal", "err", err)
		}
	}
	printGenSummary(stdout, sum, failures.lines(), o.failures, runErr != nil)
	return genVerdict(sum, runErr, o)
}

// timedOrigin is a standalone run's way to the origin: it takes a slot of
// the run's budget, then times the request alone, so that the summary's
// origin latency does not count the wait for a slot.
type timedOrigin struct {
	client  *origin.Client
	budget  *origin.Budget
	observe func(time.Duration)
}

func (t timedOrigin) Do(ctx context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error {
	release, err := t.budget.Acquire(ctx, p)
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	err = t.client.Do(ctx, p, req, resp)
	if err == nil {
		t.observe(time.Since(start))
	}
	return err
}

// genVerdict turns a finished run into edge gen's error (and so its exit
// status): nil only when the run completed and no more than -max-failures
// pages or sitemaps failed.
func genVerdict(sum gen.Summary, runErr error, o *genOptions) error {
	switch {
	case errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded):
		return fmt.Errorf("gen: interrupted after %d pages; run the same command again to resume", sum.Fetched())
	case runErr != nil:
		return runErr
	}
	if failed := sum.Failed + sum.SourceErrors; failed > o.maxFailures {
		return fmt.Errorf("gen: %d pages or sitemaps failed (more than -max-failures %d)", failed, o.maxFailures)
	}
	return nil
}

// genCutoff is the time after which a page counts as made: the first start
// of this run (its journal), or -since ago if that is earlier.
func genCutoff(started time.Time, since time.Duration) time.Time {
	if since > 0 {
		if t := time.Now().Add(-since); t.Before(started) {
			return t
		}
	}
	return started
}

// storeGenerated is Bulk.Generated for a store: the page's generation
// time, or zero for a page marked stale.
func storeGenerated(st *store.Store) func(key string) (time.Time, error) {
	return func(key string) (time.Time, error) {
		m, err := st.Meta(key)
		if err != nil || m.Stale {
			return time.Time{}, err
		}
		return m.GeneratedAt, nil
	}
}

// genRunsDir is where run journals live, inside edge's reserved @edge
// directory of the store root.
func genRunsDir(root string) string { return filepath.Join(root, "@edge", "runs") }

// openGenJournal finds the journal of an interrupted earlier attempt of
// run id under the store root (or starts one); fresh forgets it first.
func openGenJournal(root, id, desc string, fresh bool, logger *slog.Logger) (*gen.Journal, error) {
	dir := genRunsDir(root)
	if fresh {
		if err := (&gen.Journal{Path: filepath.Join(dir, id)}).Remove(); err != nil {
			return nil, err
		}
	}
	j, err := gen.OpenJournal(dir, id, desc, time.Now())
	if err != nil {
		return nil, err
	}
	if j.Resumed {
		logger.Info("edge gen: resuming an interrupted run: pages generated since it started are skipped (-fresh starts over)",
			"run", desc, "started", j.Started.Local().Format(time.DateTime), "journal", j.Path)
	}
	return j, nil
}

// genSource opens the run's source.
func genSource(ctx context.Context, cfg Config, keys *cachekey.Normalizer, o *genOptions, stdin io.Reader) (gen.Source, func() error, error) {
	if o.urls != "" {
		return gen.OpenURLList(o.urls, stdin)
	}
	sm := genSitemaps(cfg, keys)
	return sm.Source(ctx, o.sitemap), func() error { return nil }, nil
}

func genSitemaps(cfg Config, keys *cachekey.Normalizer) *gen.Sitemaps {
	return &gen.Sitemaps{Origin: cfg.Origin.URL, Keys: keys, Proto: cfg.Origin.ForwardedProto}
}

// countGenTotal counts the source's entries in the background, for the
// progress total and ETA (a file is read twice; sitemaps are fetched
// twice, which costs the origin no render). Standard input cannot be read
// twice and has no total. The returned function stops the count.
// runReported runs a bulk run with edge gen's progress reporting (bar or
// log lines, the total counted alongside) and prints its summary.
func runReported(ctx context.Context, b *gen.Bulk, cfg Config, keys *cachekey.Normalizer, o *genOptions, stderr io.Writer, logger *slog.Logger) (gen.Summary, error) {
	rep := newGenReporter(o.progress, stderr, logger)
	b.Logger = slog.New(rep.logHandler(logger.Handler()))
	stopCount := countGenTotal(ctx, cfg, keys, o, rep)
	stopProgress := rep.follow(b.Progress)
	sum, err := b.Run(ctx)
	stopCount()
	stopProgress()
	rep.finish(sum)
	return sum, err
}

func countGenTotal(ctx context.Context, cfg Config, keys *cachekey.Normalizer, o *genOptions, rep *genReporter) (stop func()) {
	if o.progress == "none" || o.urls == "-" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		src, closeSrc, err := genSource(ctx, cfg, keys, o, nil)
		if err != nil {
			return
		}
		defer closeSrc()
		if n, err := gen.Count(ctx, src); err == nil {
			rep.setTotal(n)
		}
	}()
	return func() { cancel(); <-done }
}

// printGenSummary prints the end-of-run summary.
func printGenSummary(w io.Writer, s gen.Summary, failedLines int64, failuresFile string, stopped bool) {
	state := "done"
	if stopped {
		state = "stopped"
	}
	fmt.Fprintf(w, "edge gen %s: %d entries in %s, %.1f pages/s\n", state, s.Done(), s.Elapsed.Round(time.Millisecond), s.PagesPerSecond())
	fmt.Fprintf(w, "  ok %d  unchanged %d  skipped %d  failed %d  not storable %d  refused %d",
		s.OK, s.Unchanged, s.Skipped, s.Failed, s.NotStorable, s.Refused)
	if s.OtherShard > 0 {
		fmt.Fprintf(w, "  other shards %d", s.OtherShard)
	}
	if s.SourceErrors > 0 {
		fmt.Fprintf(w, "  sitemap/list errors %d", s.SourceErrors)
	}
	ms := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
	fmt.Fprintf(w, "\n  received %s, wrote %s; ", byteCount(s.Bytes), byteCount(s.Stored))
	if s.OriginP50 > 0 {
		fmt.Fprintf(w, "origin latency p50 %s p99 %s; ", ms(s.OriginP50), ms(s.OriginP99))
	}
	fmt.Fprintf(w, "per page (budget wait included) p50 %s p99 %s\n", ms(s.LatencyP50), ms(s.LatencyP99))
	if failedLines > 0 {
		fmt.Fprintf(w, "  %d failed URLs appended to %s (retry: edge gen -urls %s)\n", failedLines, failuresFile, failuresFile)
	}
}

func byteCount(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// appendFile appends lines to a file it opens on the first write, so a run
// without failures leaves no file behind. Safe for concurrent use.
type appendFile struct {
	path string
	mu   sync.Mutex // protects f, n, err
	f    *os.File
	n    int64
	err  error
}

func (a *appendFile) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return 0, a.err
	}
	if a.f == nil {
		a.f, a.err = os.OpenFile(a.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if a.err != nil {
			return 0, a.err
		}
	}
	n, err := a.f.Write(p)
	if err == nil {
		a.n++
	}
	return n, err
}

// lines returns the number of writes (lines) made.
func (a *appendFile) lines() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func (a *appendFile) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
