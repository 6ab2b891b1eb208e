package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/memcache"
	"github.com/valyala/fasthttp"
)

// Limits of the bulk-run admin API.
const (
	genMaxJobs       = 4                // runs at once
	genKeepFinished  = 32               // finished runs kept for their status
	genChunkWait     = 10 * time.Second // a chunk waits this long for room, then 429
	genStatusWaitMax = 10 * time.Second // the longest ?wait= of a status poll
	genFeedChunks    = 4                // chunks queued ahead of the workers
	genMaxFailedKept = 100000           // failed URLs kept for the client to fetch
)

// genIdleTimeout cancels a URL-fed run whose client stopped sending and
// polling (it was killed): the run's journal stays, so the same command
// resumes it.
var genIdleTimeout = 2 * time.Minute

// genRequest is the body of POST /gen. The first POST starts a run (give
// urls or sitemap); further POSTs to /gen?job=ID add URL chunks, the last
// one with done set.
type genRequest struct {
	// URLs are URLs or paths, normalised by the server as edge gen does.
	URLs []string `json:"urls,omitempty"`
	// Sitemap, instead of URLs, is a sitemap or sitemap index URL the
	// server reads itself.
	Sitemap string `json:"sitemap,omitempty"`
	// Done marks the last chunk of URLs. A sitemap run needs no chunks.
	Done bool `json:"done,omitempty"`
	// Run names the run for its journal (edge gen sends a hash of its
	// arguments); a restarted run with the same name skips the pages its
	// earlier attempts made. Empty: no journal, unless Sitemap is set
	// (then one is derived from it and Shard and Since).
	Run string `json:"run,omitempty"`
	// Desc describes the run in its journal and logs.
	Desc string `json:"desc,omitempty"`
	// Since skips pages generated less than this long ago ("12h").
	Since string `json:"since,omitempty"`
	// Shard "I/N" makes only that shard (sitemap runs; edge gen filters
	// URL chunks itself).
	Shard string `json:"shard,omitempty"`
	// Concurrency caps the run's pages in flight; 0 means twice the
	// server's origin budget (the budget alone then paces the run). Rate
	// caps pages per second; 0 none.
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	// Fresh forgets the journal of an earlier attempt.
	Fresh bool `json:"fresh,omitempty"`
}

// genStatus is the answer of every /gen endpoint.
type genStatus struct {
	Job   string `json:"job"`
	State string `json:"state"` // running, done, interrupted, failed
	Error string `json:"error,omitempty"`
	// Resumed is set when the run's journal showed an earlier attempt.
	Resumed bool        `json:"resumed,omitempty"`
	Summary gen.Summary `json:"summary"`
	// Failed lists failed URLs from the index given as failed_after on;
	// FailedNext is the index to give next time. FailedLost counts failed
	// URLs beyond what the server keeps.
	Failed     []string `json:"failed,omitempty"`
	FailedNext int      `json:"failed_next"`
	FailedLost int64    `json:"failed_lost,omitempty"`
}

// genService runs bulk generations inside edge serve for the admin API:
// the same gen.Bulk as edge gen, over the server's generator, store and
// keys, at bulk priority under the server's origin budget, so users'
// misses always go first. It is safe for concurrent use.
type genService struct {
	m     *Main
	maker gen.Maker
	keys  *cachekey.Normalizer

	ctx    context.Context    // parent of every run
	cancel context.CancelFunc // ends every run (close)
	wg     sync.WaitGroup     // running runs

	mu     sync.Mutex         // protects jobs, order, seq, closed
	jobs   map[string]*genJob // by id
	order  []string           // ids, oldest first
	seq    int
	closed bool
}

// newGenService returns the service for m's parts: g and keys are the
// generator and key rules Main.build made.
func newGenService(m *Main, g *gen.Generator, keys *cachekey.Normalizer) *genService {
	ctx, cancel := context.WithCancel(context.Background())
	return &genService{
		m: m, keys: keys, ctx: ctx, cancel: cancel, jobs: map[string]*genJob{},
		maker: memoryDropper{g, m.memory},
	}
}

// memoryDropper makes pages with the server's generator and drops the
// memory tier's copy of each page it stores: a page written by this
// process is not reported by the store's watcher, and the memory copy may
// be older (or a stale or negative entry).
type memoryDropper struct {
	gen    *gen.Generator
	memory *memcache.Cache
}

func (d memoryDropper) Generate(ctx context.Context, f edge.Fill) (edge.Result, error) {
	r, err := d.gen.Generate(ctx, f)
	if err == nil && r.Cacheable && r.StoreErr == nil {
		d.memory.Delete(f.Key)
	}
	return r, err
}

// close cancels every run and waits for them (pages being made get the
// run's drain time to be stored). Call it before the store is closed.
func (s *genService) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// genJob is one run.
type genJob struct {
	id      string
	run     string       // journal name; "" for none
	journal *gen.Journal // nil for none
	ctx     context.Context
	cancel  context.CancelFunc
	bulk    *gen.Bulk
	feed    chan []gen.Entry // URL chunks; nil for a sitemap run
	sending chan struct{}    // one token: held by the POST feeding a chunk
	done    chan struct{}    // closed when the run ended
	resumed bool
	idle    *time.Timer // cancels a URL-fed run whose client went away

	mu         sync.Mutex // protects the fields below
	fed        bool       // the last chunk arrived (feed closed)
	lines      int        // URLs received, for the entries' positions
	state      string     // running, done, interrupted, failed
	err        error
	summary    gen.Summary // final, once state is not running
	failed     []string
	failedLost int64
}

// Write collects failed URLs (one per call, newline-terminated) for the
// client to fetch; it is the run's Bulk.Failures.
func (j *genJob) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.failed) >= genMaxFailedKept {
		j.failedLost++
		return len(p), nil
	}
	line := string(p)
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	j.failed = append(j.failed, line)
	return len(p), nil
}

// touch records contact from the client of a URL-fed run that still
// expects chunks (once it has them all, the run ends on its own).
func (j *genJob) touch() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.idle != nil && !j.fed {
		j.idle.Reset(genIdleTimeout)
	}
}

func (j *genJob) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// serve answers POST /gen, GET /gen/status and POST /gen/cancel.
func (s *genService) serve(ctx *fasthttp.RequestCtx, path string) {
	switch {
	case path == "/gen" && ctx.IsPost():
		if !s.m.authorized(ctx) {
			return
		}
		if ctx.QueryArgs().Has("job") {
			s.serveChunk(ctx)
		} else {
			s.serveStart(ctx)
		}
	case path == "/gen/status" && ctx.IsGet():
		s.serveStatus(ctx)
	case path == "/gen/cancel" && ctx.IsPost():
		if !s.m.authorized(ctx) {
			return
		}
		if j := s.job(ctx); j != nil {
			j.cancel()
			s.m.writeJSON(ctx, fasthttp.StatusAccepted, s.status(j, 0))
		}
	default:
		ctx.Error("method not allowed\n", fasthttp.StatusMethodNotAllowed)
	}
}

type genError struct {
	Error string `json:"error"`
}

func (s *genService) fail(ctx *fasthttp.RequestCtx, status int, format string, args ...any) {
	s.m.writeJSON(ctx, status, genError{fmt.Sprintf(format, args...)})
}

// job finds the run named by ?job=, answering 404 itself if there is none.
func (s *genService) job(ctx *fasthttp.RequestCtx) *genJob {
	id := string(ctx.QueryArgs().Peek("job"))
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j == nil {
		s.fail(ctx, fasthttp.StatusNotFound, "no run %q (finished runs are kept for a while only)", id)
	}
	return j
}

// serveStart starts a run and answers 202 with its status.
func (s *genService) serveStart(ctx *fasthttp.RequestCtx) {
	var req genRequest
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
		s.fail(ctx, fasthttp.StatusBadRequest, "body: %v", err)
		return
	}
	o := genOptions{concurrency: req.Concurrency, rate: req.Rate, fresh: req.Fresh, sinceText: req.Since}
	if req.Since != "" {
		d, err := time.ParseDuration(req.Since)
		if err != nil || d <= 0 {
			s.fail(ctx, fasthttp.StatusBadRequest, "since %q: want a positive duration", req.Since)
			return
		}
		o.since = d
	}
	if req.Shard != "" {
		var err error
		if o.shard, o.shards, err = parseShard(req.Shard); err != nil {
			s.fail(ctx, fasthttp.StatusBadRequest, "shard %v", err)
			return
		}
	}
	switch {
	case req.Sitemap != "" && (len(req.URLs) > 0 || req.Done):
		s.fail(ctx, fasthttp.StatusBadRequest, "give urls or sitemap, not both")
		return
	case req.Sitemap != "" && !isURL(req.Sitemap):
		s.fail(ctx, fasthttp.StatusBadRequest, "sitemap %q: want an http(s) URL", req.Sitemap)
		return
	case req.Concurrency < 0 || req.Rate < 0:
		s.fail(ctx, fasthttp.StatusBadRequest, "concurrency and rate must not be negative")
		return
	case len(req.Run) > 64 || strings.ContainsAny(req.Run, `/\.`):
		s.fail(ctx, fasthttp.StatusBadRequest, "run: at most 64 characters, no '/', '\\' or '.'")
		return
	}
	run, desc := req.Run, req.Desc
	if req.Sitemap != "" {
		o.sourceIdentity = "-sitemap " + req.Sitemap
		if run == "" {
			run = o.runID()
		}
		if desc == "" {
			desc = "POST /gen " + o.describe()
		}
	}

	s.mu.Lock()
	running := 0
	for _, j := range s.jobs {
		if j.finished() {
			continue
		}
		running++
		if run != "" && j.run == run {
			s.mu.Unlock()
			s.fail(ctx, fasthttp.StatusConflict, "the same run is already running as job %s", j.id)
			return
		}
	}
	if s.closed || running >= genMaxJobs {
		s.mu.Unlock()
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "10")
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "%d bulk runs are running (at most %d), or the server is stopping", running, genMaxJobs)
		return
	}
	s.seq++
	id := strconv.FormatInt(time.Now().UnixMilli(), 36) + "-" + strconv.Itoa(s.seq)
	j, err := s.newJob(id, run, desc, &o, &req)
	if err != nil {
		s.mu.Unlock()
		s.fail(ctx, fasthttp.StatusInternalServerError, "%v", err)
		return
	}
	if j.feed != nil {
		j.feed <- j.entries(req.URLs) // the feed is empty: this does not block
		if req.Done {
			j.closeFeed()
		}
	}
	s.jobs[id] = j
	s.order = append(s.order, id)
	s.pruneLocked()
	s.wg.Add(1)
	s.mu.Unlock()
	go s.run(j)
	s.m.logger.Info("gen: bulk run started", "job", id, "run", desc, "resumed", j.resumed)
	s.m.writeJSON(ctx, fasthttp.StatusAccepted, s.status(j, 0))
}

// closeFeed ends a URL-fed run's source after its last chunk.
func (j *genJob) closeFeed() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.fed {
		j.fed = true
		close(j.feed)
		if j.idle != nil {
			j.idle.Stop()
		}
	}
}

// newJob prepares a run: its journal (written before any page is made),
// its cutoff, its source and its Bulk. s.mu is held.
func (s *genService) newJob(id, run, desc string, o *genOptions, req *genRequest) (*genJob, error) {
	ctx, cancel := context.WithCancel(s.ctx)
	j := &genJob{id: id, run: run, ctx: ctx, cancel: cancel, state: "running",
		done: make(chan struct{}), sending: make(chan struct{}, 1)}
	started := time.Now()
	if run != "" {
		journal, err := openGenJournal(s.m.Config.Store.Root, run, desc, o.fresh, s.m.logger)
		if err != nil {
			cancel()
			return nil, err
		}
		j.journal, started, j.resumed = journal, journal.Started, journal.Resumed
	}
	cfg := s.m.cfg.Load()
	var src gen.Source
	if req.Sitemap != "" {
		src = genSitemaps(*cfg, s.keys).Source(ctx, req.Sitemap)
	} else {
		j.feed = make(chan []gen.Entry, genFeedChunks)
		src = feedSource(ctx, j.feed)
		j.idle = time.AfterFunc(genIdleTimeout, func() {
			s.m.logger.Warn("gen: the client of a bulk run went away; cancelling it (the same edge gen command resumes it)", "job", id)
			cancel()
		})
	}
	// Concurrency caps the run's pages in flight. By default, twice the
	// budget: the budget (where bulk is the lowest priority) is then the
	// only cap, and the origin stays busy while pages are compressed and
	// written.
	conc := o.concurrency
	if conc == 0 {
		conc = 2 * s.m.origin.Budget().Slots()
	}
	j.bulk = &gen.Bulk{
		Maker: s.maker, Keys: s.keys, Source: src, BypassPaths: cfg.Cache.BypassPaths,
		Generated: storeGenerated(s.m.store), Cutoff: genCutoff(started, o.since),
		Shard: o.shard, Shards: o.shards, Priority: edge.PriorityBulk,
		Concurrency: conc, Rate: o.rate, GiveUpAfter: genGiveUpAfter,
		Failures: j, Logger: s.m.logger.With("job", id), Known: s.m.store,
	}
	return j, nil
}

// pruneLocked forgets the oldest finished runs beyond genKeepFinished.
// s.mu is held.
func (s *genService) pruneLocked() {
	finished := 0
	for _, id := range s.order {
		if s.jobs[id].finished() {
			finished++
		}
	}
	kept := s.order[:0]
	for _, id := range s.order {
		if finished > genKeepFinished && s.jobs[id].finished() {
			delete(s.jobs, id)
			finished--
			continue
		}
		kept = append(kept, id)
	}
	s.order = kept
}

// run runs one job to its end.
func (s *genService) run(j *genJob) {
	defer s.wg.Done()
	defer close(j.done)
	defer j.cancel()
	sum, err := j.bulk.Run(j.ctx)
	if j.idle != nil {
		j.idle.Stop()
	}
	state := "done"
	switch {
	case err == nil:
		if j.journal != nil {
			if rerr := j.journal.Remove(); rerr != nil {
				s.m.logger.Warn("gen: could not remove a run journal", "job", j.id, "err", rerr)
			}
		}
	case errors.Is(err, context.Canceled):
		state = "interrupted"
	default:
		state = "failed"
	}
	j.mu.Lock()
	j.state, j.err, j.summary = state, err, sum
	j.mu.Unlock()
	s.m.logger.Info("gen: bulk run ended", "job", j.id, "state", state, "ok", sum.OK, "unchanged", sum.Unchanged,
		"skipped", sum.Skipped, "failed", sum.Failed, "not_storable", sum.NotStorable, "refused", sum.Refused,
		"pages_per_s", fmt.Sprintf("%.1f", sum.PagesPerSecond()), "err", err)
}

// serveChunk adds a chunk of URLs to a run: 202 with its status, or 429
// when the run is still busy with earlier chunks after genChunkWait (send
// the same chunk again).
func (s *genService) serveChunk(ctx *fasthttp.RequestCtx) {
	j := s.job(ctx)
	if j == nil {
		return
	}
	var req genRequest
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
		s.fail(ctx, fasthttp.StatusBadRequest, "body: %v", err)
		return
	}
	if j.feed == nil {
		s.fail(ctx, fasthttp.StatusConflict, "run %s reads a sitemap: it takes no URLs", j.id)
		return
	}
	j.touch()
	after := ctx.QueryArgs().GetUintOrZero("failed_after")
	t := time.NewTimer(genChunkWait)
	defer t.Stop()
	busy := func() {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "0")
		s.m.writeJSON(ctx, fasthttp.StatusTooManyRequests, s.status(j, after))
	}
	// One chunk at a time: the check of fed, the send and the close after
	// the last chunk must not interleave with another POST's.
	select {
	case j.sending <- struct{}{}:
		defer func() { <-j.sending }()
	case <-j.done:
		s.m.writeJSON(ctx, fasthttp.StatusConflict, s.status(j, after))
		return
	case <-t.C:
		busy()
		return
	}
	j.mu.Lock()
	fed := j.fed
	j.mu.Unlock()
	if fed {
		s.fail(ctx, fasthttp.StatusConflict, "run %s already had its last chunk", j.id)
		return
	}
	if len(req.URLs) > 0 {
		select {
		case j.feed <- j.entries(req.URLs):
		case <-j.done:
			s.m.writeJSON(ctx, fasthttp.StatusConflict, s.status(j, after))
			return
		case <-t.C:
			busy()
			return
		}
	}
	if req.Done {
		j.closeFeed()
	}
	s.m.writeJSON(ctx, fasthttp.StatusAccepted, s.status(j, after))
}

// serveStatus answers GET /gen/status?job=ID[&wait=2s][&failed_after=N]:
// with wait, it answers when the run ends or after wait (at most
// genStatusWaitMax), so a client follows a run without busy polling.
func (s *genService) serveStatus(ctx *fasthttp.RequestCtx) {
	j := s.job(ctx)
	if j == nil {
		return
	}
	j.touch()
	if w := ctx.QueryArgs().Peek("wait"); w != nil {
		d, err := time.ParseDuration(string(w))
		if err != nil || d < 0 {
			s.fail(ctx, fasthttp.StatusBadRequest, "wait %q: want a duration", w)
			return
		}
		t := time.NewTimer(min(d, genStatusWaitMax))
		select {
		case <-j.done:
		case <-t.C:
		case <-s.ctx.Done():
		}
		t.Stop()
	}
	s.m.writeJSON(ctx, fasthttp.StatusOK, s.status(j, ctx.QueryArgs().GetUintOrZero("failed_after")))
}

// status snapshots a run, with the failed URLs from index after on (at
// most 1000 at a time).
func (s *genService) status(j *genJob, after int) genStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := genStatus{Job: j.id, State: j.state, Resumed: j.resumed, FailedLost: j.failedLost}
	if j.state == "running" {
		st.Summary = j.bulk.Progress()
	} else {
		st.Summary = j.summary
	}
	if j.err != nil {
		st.Error = j.err.Error()
	}
	after = min(max(after, 0), len(j.failed))
	end := min(after+1000, len(j.failed))
	st.Failed = append([]string(nil), j.failed[after:end]...)
	st.FailedNext = end
	return st
}

// entries turns a chunk of URLs into source entries, numbered in the
// order the run received them (From "POST /gen").
func (j *genJob) entries(urls []string) []gen.Entry {
	j.mu.Lock()
	first := j.lines
	j.lines += len(urls)
	j.mu.Unlock()
	out := make([]gen.Entry, len(urls))
	for i, u := range urls {
		out[i] = gen.Entry{URL: u, From: "POST /gen", Line: first + i + 1}
	}
	return out
}

// feedSource is the Source of a URL-fed run: the chunks posted to it, until
// the last one or ctx ends.
func feedSource(ctx context.Context, feed <-chan []gen.Entry) gen.Source {
	return func(yield func(gen.Entry, error) bool) {
		for {
			select {
			case chunk, ok := <-feed:
				if !ok {
					return
				}
				for _, e := range chunk {
					if !yield(e, nil) {
						return
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}
}
