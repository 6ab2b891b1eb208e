package gen

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/pace"
)

// Maker makes one page: fetch, judge, build, store. *Generator satisfies it.
type Maker interface {
	Generate(ctx context.Context, f edge.Fill) (edge.Result, error)
}

// KnownSet records the keys a run names, durably: the manifest that
// store.admit "known" stores misses from. *store.Store satisfies it.
type KnownSet interface {
	AddKnown(keys []string) error
}

// knownBatch is how many keys a run hands to its KnownSet at once.
const knownBatch = 1000

// Outcome is what became of one entry of a bulk run.
type Outcome uint8

// The outcomes, as counted in a Summary.
const (
	OK          Outcome = iota // generated and written
	Unchanged                  // generated; same content as stored, files not rewritten
	Skipped                    // generated after the cutoff: not asked of the origin
	OtherShard                 // belongs to another shard
	Failed                     // origin error, 5xx or 429, or not written
	NotStorable                // the origin's answer may not be stored
	Refused                    // not a page of this site, or never stored by edge
	numOutcomes
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Unchanged:
		return "unchanged"
	case Skipped:
		return "skipped"
	case OtherShard:
		return "other-shard"
	case Failed:
		return "failed"
	case NotStorable:
		return "not-storable"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// PageResult is the outcome of one entry, as given to Bulk.OnPage.
type PageResult struct {
	Entry   Entry
	Key     string // the cache key; "" when the entry was refused before it had one
	Outcome Outcome
	Reason  string        // why it was refused, not storable or failed ("unknown host", "status 404", …)
	Err     error         // the error behind Failed or Refused, if any
	Latency time.Duration // time in Maker.Generate; 0 if not fetched
}

// Bulk generates every page a Source names, as fast as the origin budget
// and its own caps allow. Each entry is normalised exactly as the server
// normalises a request (Keys), so the pages, files, variants, index records
// and tags are the ones edge serve would make; entries the server would
// never store are refused and counted. Set the exported fields, then call
// Run once. Progress may be called from any goroutine while Run runs.
type Bulk struct {
	// Maker makes each page (at Priority, edge.PriorityBulk by default).
	// Required.
	Maker Maker
	// Keys normalises entries into cache keys; hosts it does not serve are
	// refused. Required.
	Keys *cachekey.Normalizer
	// Source yields the entries. Required.
	Source Source
	// BypassPaths are the request-target prefixes the server always passes
	// through (cache.bypass_paths); entries under them are refused.
	BypassPaths []string
	// Generated reports when key's page was last generated: the zero time
	// (or an error) when it has none or it is marked stale. With Cutoff it
	// decides what is skipped. Nil: nothing is skipped.
	Generated func(key string) (time.Time, error)
	// Cutoff skips pages generated after it (see Generated). Zero: none.
	Cutoff time.Time
	// Shard and Shards select the entries whose key hashes (FNV-1a 64) to
	// Shard modulo Shards; the others are counted as OtherShard. Shards 0
	// or 1: every entry.
	Shard, Shards int
	// Concurrency is how many pages are made at once. Zero means 4.
	Concurrency int
	// Rate caps the pages asked of the origin per second. Zero: no cap.
	Rate float64
	// Priority orders the run's origin requests under the budget. Zero is
	// edge.PriorityMiss, so set it (normally edge.PriorityBulk).
	Priority edge.Priority
	// Drain is how long pages already being made may take to finish once
	// the run is cancelled, so that they are stored rather than wasted.
	// Zero means 10s.
	Drain time.Duration
	// GiveUpAfter stops the run after this many consecutive failures (the
	// origin is down; carrying on would only fill the failures file).
	// Zero: never.
	GiveUpAfter int
	// Failures, if set, receives the URL of each failed entry, one per
	// line, as read from the source (a list of them is a valid Source).
	Failures io.Writer
	// Logger receives refusals, failures and source errors (the first few
	// of each at Warn, the rest at Debug). Nil means slog.Default().
	Logger *slog.Logger
	// OnPage, if set, is called once per entry with its outcome, from the
	// goroutine that decided it; it must be safe for concurrent use.
	OnPage func(PageResult)
	// Known, if set, is given the key of every entry the run is to make
	// (this shard's, whatever becomes of them: made, failed, not
	// storable), knownBatch at a time as the source is read, so that a
	// page that could not be made now is still admitted later. Entries
	// refused or left to other shards are not given (with edge gen sent to
	// a running server they never reach it). A failure to record them is
	// logged; the run goes on.
	Known KnownSet

	c       counters
	start   atomic.Pointer[time.Time]
	end     atomic.Pointer[time.Time]
	inARow  atomic.Int64 // consecutive failures
	logged  [numOutcomes + 1]atomic.Int64
	failMu  sync.Mutex // serialises writes to Failures and guards failErr
	failErr error
	known   []string // keys not yet given to Known; only the producer touches it
}

// logFirst is how many messages of each kind are logged at Warn.
const logFirst = 20

// ShardOf returns the shard (0 ≤ shard < n) of a cache key: FNV-1a 64 of
// the key modulo n. It is stable across processes and machines, so n runs
// with -shard 0/n … n-1/n cover a site with no page made twice.
func ShardOf(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	_, _ = io.WriteString(h, key)
	return int(h.Sum64() % uint64(n))
}

// ObserveOrigin records the time one origin request of the run took, from
// the request sent to the response read (without the wait for a budget
// slot), for Summary.OriginP50 and OriginP99. Safe for concurrent use.
func (b *Bulk) ObserveOrigin(d time.Duration) { b.c.origin.observe(d) }

// Progress returns the counts so far; safe to call concurrently with Run.
func (b *Bulk) Progress() Summary {
	return b.c.summary(b.elapsed())
}

func (b *Bulk) elapsed() time.Duration {
	s := b.start.Load()
	if s == nil {
		return 0
	}
	if e := b.end.Load(); e != nil {
		return e.Sub(*s)
	}
	return time.Since(*s)
}

// ErrGaveUp is wrapped by the error Run returns when GiveUpAfter
// consecutive pages failed.
var ErrGaveUp = errors.New("gen: too many consecutive failures")

// job is one page for a worker.
type job struct {
	entry Entry
	fill  edge.Fill
}

// Run reads the source to its end and makes every page in it, Concurrency
// at a time, and returns the counts. The run goes on past bad entries,
// unreadable sitemaps and failed pages (each counted, logged, and failed
// URLs written to Failures). It stops early, returning an error, when ctx
// is done (pages being made get Drain to finish and be stored; the error
// wraps ctx's), when the store is full (the error wraps edge.ErrStoreFull)
// or after GiveUpAfter consecutive failures (ErrGaveUp). Nothing is left
// half-written: every page is stored atomically or not at all.
func (b *Bulk) Run(ctx context.Context) (Summary, error) {
	switch {
	case b.Maker == nil || b.Keys == nil || b.Source == nil:
		return Summary{}, errors.New("gen: Bulk needs Maker, Keys and Source")
	case b.Shards > 1 && (b.Shard < 0 || b.Shard >= b.Shards):
		return Summary{}, fmt.Errorf("gen: shard %d/%d out of range", b.Shard, b.Shards)
	}
	start := time.Now()
	b.start.Store(&start)
	defer func() { end := time.Now(); b.end.Store(&end) }()

	// stopCtx ends the dispatch of new pages: the caller's cancellation
	// or a fatal condition (store full, giving up).
	stopCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	// workCtx bounds pages already started: they outlive stopCtx by Drain.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	n := b.Concurrency
	if n <= 0 {
		n = 4
	}
	lim := pace.New(b.Rate)
	jobs := make(chan job, n)
	var dropped atomic.Bool // a page was not attempted because the run stopped
	var workers sync.WaitGroup
	for range n {
		workers.Go(func() {
			for {
				select {
				case j, ok := <-jobs:
					if !ok {
						return
					}
					if !b.work(stopCtx, workCtx, lim, j, stop) {
						dropped.Store(true)
					}
				case <-stopCtx.Done():
					return
				}
			}
		})
	}
	workersDone := make(chan struct{})
	go func() {
		select {
		case <-stopCtx.Done():
			t := time.NewTimer(b.drain())
			defer t.Stop()
			select {
			case <-t.C:
				cancelWork()
			case <-workersDone:
			}
		case <-workersDone:
		}
	}()

	// The producer reads the source. If it is blocked in a read (standard
	// input) when the run stops, Run does not wait for it; the gate keeps
	// it from touching anything once Run has returned.
	var (
		gate       sync.RWMutex // held (read) by the producer while it handles an entry
		alive      = true       // guarded by gate
		sourceDone atomic.Bool
	)
	go func() {
		defer close(jobs)
		for e, err := range b.Source {
			gate.RLock()
			if !alive || stopCtx.Err() != nil {
				if alive {
					b.flushKnown()
				}
				gate.RUnlock()
				return
			}
			b.produce(stopCtx, e, err, jobs)
			gate.RUnlock()
		}
		gate.RLock()
		if alive {
			b.flushKnown()
		}
		gate.RUnlock()
		// A source that ended because the run was stopping (a sitemap
		// source watching the same ctx) did not reach its end.
		sourceDone.Store(ctx.Err() == nil && stopCtx.Err() == nil)
	}()

	workers.Wait()
	close(workersDone)
	gate.Lock()
	alive = false
	gate.Unlock()

	sum := b.c.summary(time.Since(start))
	// Interrupted: the source was not read to its end, or pages read from
	// it were not made (dropped by a worker, or left in the queue).
	sum.Interrupted = !sourceDone.Load() || dropped.Load() || len(jobs) > 0
	if sum.Interrupted {
		// ctx's cancellation may not have reached stopCtx yet.
		err := context.Cause(stopCtx)
		if err == nil {
			err = context.Cause(ctx)
		}
		if err == nil {
			err = errors.New("gen: run stopped before its end")
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("gen: run interrupted: %w", err)
		}
		return sum, err
	}
	return sum, nil
}

func (b *Bulk) drain() time.Duration {
	if b.Drain <= 0 {
		return 10 * time.Second
	}
	return b.Drain
}

// produce handles one item of the source: counts it, refuses it, leaves
// it to another shard, or hands it to a worker.
func (b *Bulk) produce(ctx context.Context, e Entry, err error, jobs chan<- job) {
	if err != nil {
		b.c.source.Add(1)
		b.logf(numOutcomes, "source error", "where", e.Where(), "err", err)
		return
	}
	b.c.read.Add(1)
	fill, o, reason, err := b.Admit(e)
	if b.Known != nil && o == OK {
		if b.known = append(b.known, fill.Key); len(b.known) >= knownBatch {
			b.flushKnown()
		}
	}
	if o != OK {
		b.finish(PageResult{Entry: e, Key: fill.Key, Outcome: o, Reason: reason, Err: err})
		return
	}
	select {
	case jobs <- job{e, fill}:
	case <-ctx.Done():
	}
}

// flushKnown gives the keys gathered so far to Known. Only the producer
// calls it, while Run is still running.
func (b *Bulk) flushKnown() {
	if b.Known == nil || len(b.known) == 0 {
		return
	}
	if err := b.Known.AddKnown(b.known); err != nil {
		b.logf(numOutcomes, "recording known keys", "keys", len(b.known), "err", err)
	}
	b.known = b.known[:0]
}

// Admit decides whether the run makes a page for e: it returns the Fill
// and OK, or Refused (with the reason and error) or OtherShard. It is what
// Run does with each entry before any origin request, exported for callers
// that filter entries before handing them to a run elsewhere.
func (b *Bulk) Admit(e Entry) (edge.Fill, Outcome, string, error) {
	r, err := b.Keys.FromURL(e.URL)
	if err != nil {
		reason := "bad URL"
		switch {
		case errors.Is(err, cachekey.ErrUnknownHost):
			reason = "host not served"
		case errors.Is(err, cachekey.ErrTooLong):
			reason = "too long"
		}
		return edge.Fill{}, Refused, reason, err
	}
	key, uri := string(r.Key), string(r.URI)
	if r.Bypass {
		return edge.Fill{Key: key}, Refused, "query not cached",
			fmt.Errorf("gen: %s: a query parameter is neither in cache.query_allow nor ignored: edge never stores it", e.URL)
	}
	for _, p := range b.BypassPaths {
		if p != "" && strings.HasPrefix(uri, p) {
			return edge.Fill{Key: key}, Refused, "bypass path",
				fmt.Errorf("gen: %s: under cache.bypass_paths %q: edge never stores it", e.URL, p)
		}
	}
	f := edge.Fill{Key: key, Host: string(r.Host), URI: uri, Priority: b.Priority}
	if b.Shards > 1 && ShardOf(key, b.Shards) != b.Shard {
		return f, OtherShard, "", nil
	}
	return f, OK, "", nil
}

// work makes one page. It returns false if the page was not attempted
// because the run is stopping.
func (b *Bulk) work(ctx, workCtx context.Context, lim *pace.Limiter, j job, stop context.CancelCauseFunc) bool {
	if ctx.Err() != nil {
		return false
	}
	if b.Generated != nil && !b.Cutoff.IsZero() {
		if t, err := b.Generated(j.fill.Key); err == nil && t.After(b.Cutoff) {
			b.finish(PageResult{Entry: j.entry, Key: j.fill.Key, Outcome: Skipped})
			return true
		}
	}
	if lim.Wait(ctx) != nil {
		return false
	}
	t0 := time.Now()
	res, err := b.Maker.Generate(workCtx, j.fill)
	lat := time.Since(t0)
	if err != nil && workCtx.Err() != nil {
		return false // cut short by the drain deadline: not this page's fault
	}
	pr := PageResult{Entry: j.entry, Key: j.fill.Key, Latency: lat}
	b.c.latency.observe(lat)
	if res.Page != nil {
		b.c.bytes.Add(int64(len(res.Page.Body)))
	}
	switch {
	case err != nil:
		pr.Outcome, pr.Reason, pr.Err = Failed, "origin", err
	case !res.Cacheable && res.Page != nil && (res.Page.Status >= 500 || res.Page.Status == 429):
		pr.Outcome, pr.Reason = Failed, fmt.Sprintf("status %d", res.Page.Status)
		pr.Err = fmt.Errorf("gen: %s: origin answered %d", j.fill.URI, res.Page.Status)
	case !res.Cacheable:
		pr.Outcome, pr.Reason = NotStorable, res.Reason
		if res.Page != nil && res.Reason == "status" {
			pr.Reason = fmt.Sprintf("status %d", res.Page.Status)
		}
	case res.StoreErr != nil:
		pr.Outcome, pr.Reason, pr.Err = Failed, "store", res.StoreErr
		if errors.Is(res.StoreErr, edge.ErrStoreFull) {
			stop(fmt.Errorf("gen: the store is full (%w); stopping — free space and run the same command again to resume", res.StoreErr))
		}
	case res.Changed:
		pr.Outcome = OK
		p := res.Page
		b.c.stored.Add(int64(len(p.Body) + len(p.Gzip) + len(p.Brotli)))
	default:
		pr.Outcome = Unchanged
	}
	if pr.Outcome == Failed {
		if n := b.inARow.Add(1); b.GiveUpAfter > 0 && n >= int64(b.GiveUpAfter) {
			stop(fmt.Errorf("%w: %d pages failed in a row, the last %s: %v; is the origin up? Run the same command again to resume",
				ErrGaveUp, n, j.entry.URL, pr.Err))
		}
	} else {
		b.inARow.Store(0)
	}
	b.finish(pr)
	return true
}

// finish counts, logs and reports one outcome.
func (b *Bulk) finish(pr PageResult) {
	b.c.outcomes[pr.Outcome].Add(1)
	switch pr.Outcome {
	case Refused:
		b.logf(Refused, "refused", "where", pr.Entry.Where(), "url", pr.Entry.URL, "reason", pr.Reason, "err", pr.Err)
	case Failed:
		b.logf(Failed, "page failed", "where", pr.Entry.Where(), "url", pr.Entry.URL, "reason", pr.Reason, "err", pr.Err)
		b.writeFailure(pr.Entry.URL)
	}
	if b.OnPage != nil {
		b.OnPage(pr)
	}
}

// logf logs the first logFirst messages of a kind at Warn, then at Debug.
func (b *Bulk) logf(kind Outcome, msg string, args ...any) {
	log := b.Logger
	if log == nil {
		log = slog.Default()
	}
	level := slog.LevelWarn
	switch n := b.logged[kind].Add(1); {
	case n == logFirst:
		args = append(args, "note", "further messages of this kind are logged at debug level")
	case n > logFirst:
		level = slog.LevelDebug
	}
	log.Log(context.Background(), level, "gen: "+msg, args...)
}

func (b *Bulk) writeFailure(url string) {
	if b.Failures == nil {
		return
	}
	b.failMu.Lock()
	defer b.failMu.Unlock()
	if b.failErr != nil {
		return
	}
	if _, err := io.WriteString(b.Failures, url+"\n"); err != nil {
		b.failErr = err
		log := b.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Error("gen: cannot write the failures file; failed URLs are only logged from now on", "err", err)
	}
}
