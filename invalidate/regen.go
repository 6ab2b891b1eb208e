package invalidate

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/pace"
)

// Claim is a due stale mark handed to one worker. cmd/edge converts the
// store's claims to it.
type Claim struct {
	Key      string
	Seq      uint64
	Priority edge.Priority
	MarkedAt time.Time // the latest mark
	Attempts int       // failed regenerations so far
}

// Verdict is how a worker settles a claim.
type Verdict uint8

// The ways to settle a claim.
const (
	// Done: the page was regenerated (or removed); the mark goes, unless
	// it was made again meanwhile (then removed is false and the page is
	// regenerated once more).
	Done Verdict = iota
	// Retry: regeneration failed; try again not before the given time.
	Retry
	// Drop: regeneration failed too often; leave the mark for the sweep.
	Drop
	// Release: the worker is stopping; the mark is due again at once.
	Release
)

// Queue is the durable queue of stale marks. cmd/edge adapts *store.Store
// (Next, Done, Retry, Drop, Release) to it.
type Queue interface {
	// Next claims up to max marks due at now, most urgent first; when it
	// claims none, wake is when the next pending mark falls due (zero:
	// none pending).
	Next(now time.Time, max int) (claims []Claim, wake time.Time, err error)
	// Settle ends a claim; notBefore is used by Retry.
	Settle(c Claim, v Verdict, notBefore time.Time) (removed bool, err error)
}

// Generator makes a page from the origin under the shared origin budget
// and stores it. *gen.Generator satisfies it.
type Generator interface {
	Generate(ctx context.Context, f edge.Fill) (edge.Result, error)
}

// Regenerator drains the stale marks: Concurrency workers, paced by Rate,
// each take a due mark and regenerate its page through the same generator
// as a miss, at the mark's priority. Set the fields, then call Run once;
// Wake and Stats are safe for concurrent use.
//
// Outcomes: a page stored (changed or not) or removed (404/410) settles
// the mark (Done) and drops the memory copy; an origin error, a 5xx, an
// uncacheable response or a failed write keeps the old page and retries
// with exponential backoff; after MaxAttempts failures the mark is dropped
// for the sweep.
type Regenerator struct {
	Queue     Queue     // required
	Generator Generator // required
	Pages     Pages     // required: removes pages the origin says are gone
	Memory    Memory    // required: drops changed pages from memory
	// Keys turns a key back into the host and request-target to ask the
	// origin for. Required.
	Keys *cachekey.Normalizer
	// Concurrency is the number of workers. Zero means 2.
	Concurrency int
	// Rate is the most regenerations started per second, all workers
	// together. Zero means 10; negative means unlimited (the origin budget
	// still applies).
	Rate float64
	// MaxAttempts is how many failed regenerations a mark gets before it
	// is dropped. Zero means 5.
	MaxAttempts int
	// Backoff is the wait after the first failure, doubled after each
	// further one, up to MaxBackoff. Zero means 5s and 10m.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one regeneration. Zero means 60s.
	Timeout time.Duration
	// Schedule, if set, holds the marks and drains them only at its times
	// (batch mode): a mark is handed out once a scheduled time has passed
	// since it was made. Nil means at once.
	Schedule *Schedule
	// Logger receives outcomes and errors. Nil means slog.Default().
	Logger *slog.Logger

	wake  signal
	stats regenStats
}

// Wake tells idle workers that marks may be due. It never blocks.
func (r *Regenerator) Wake() { r.wake.broadcast() }

// Run runs the workers until ctx is done, then waits for them: a
// regeneration in flight is cancelled and its mark released (it stays,
// durable, for the next run). It returns nil.
func (r *Regenerator) Run(ctx context.Context) error {
	lim := pace.New(r.rate())
	n := r.Concurrency
	if n <= 0 {
		n = 2
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { r.work(ctx, lim) })
	}
	wg.Wait()
	return nil
}

// work is one worker's loop.
func (r *Regenerator) work(ctx context.Context, lim *pace.Limiter) {
	var errDelay time.Duration
	for {
		woken := r.wake.wait() // before Next: a Wake after it is not lost
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		cutoff := now
		if r.Schedule != nil {
			cutoff = r.Schedule.Prev(now)
		}
		claims, wake, err := r.Queue.Next(cutoff, 1)
		var timer <-chan time.Time
		switch {
		case err != nil:
			errDelay = min(max(2*errDelay, 100*time.Millisecond), 10*time.Second)
			r.log().Error("invalidate: reading the stale marks", "err", err, "retry_in", errDelay)
			timer = time.After(errDelay)
		case len(claims) > 0:
			errDelay = 0
			if err := lim.Wait(ctx); err != nil {
				r.settle(claims[0], Release, time.Time{})
				return
			}
			r.process(ctx, claims[0])
			continue
		case !wake.IsZero():
			if r.Schedule != nil {
				wake = r.Schedule.Next(wake)
			}
			if !wake.IsZero() {
				timer = time.After(time.Until(wake))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-woken:
		case <-timer:
		}
	}
}

// process regenerates one claimed page and settles its mark.
func (r *Regenerator) process(ctx context.Context, c Claim) {
	f, err := r.fill(c)
	if err != nil {
		// The key no longer maps to a request (the hosts changed since it
		// was stored): no regeneration can ever succeed.
		r.log().Warn("invalidate: cannot regenerate page", "key", c.Key, "err", err)
		r.stats.outcome("dropped")
		r.settle(c, Drop, time.Time{})
		return
	}
	gctx, cancel := context.WithTimeout(ctx, r.timeout())
	res, err := r.generate(gctx, f)
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		r.settle(c, Release, time.Time{}) // stopping: the mark stays due
	case err != nil:
		r.fail(c, "origin_error", err.Error())
	case res.Negative:
		// The origin says the page is gone: so is everything edge had of
		// it (files, variants, index record, tags, mark, memory copy).
		if err := r.Pages.Delete(c.Key); err != nil {
			r.fail(c, "store_error", err.Error())
			return
		}
		r.succeed(c, "removed")
	case !res.Cacheable && res.Page != nil && res.Page.Status >= 500:
		r.fail(c, "origin_5xx", fmt.Sprintf("status %d", res.Page.Status))
	case !res.Cacheable:
		r.fail(c, "uncacheable", res.Reason)
	case res.StoreErr != nil:
		r.fail(c, "store_error", res.StoreErr.Error())
	default:
		outcome := "unchanged" // only generated_at moved; the ETag stays
		if res.Changed {
			outcome = "changed"
		}
		r.succeed(c, outcome)
	}
}

// generate calls the generator, turning a panic into an error.
func (r *Regenerator) generate(ctx context.Context, f edge.Fill) (res edge.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			r.log().Error("invalidate: panic regenerating a page", "key", f.Key, "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("invalidate: generator panicked: %v", v)
		}
	}()
	return r.Generator.Generate(ctx, f)
}

func (r *Regenerator) succeed(c Claim, outcome string) {
	r.stats.outcome(outcome)
	removed := r.settle(c, Done, time.Time{})
	// After the mark is settled: a reader promoting the page from disk
	// meanwhile got the new version.
	r.Memory.Delete(c.Key)
	if removed {
		r.stats.latency.observe(time.Since(c.MarkedAt).Seconds())
	}
	r.log().Debug("invalidate: regenerated", "key", c.Key, "outcome", outcome, "remarked", !removed)
}

// fail keeps the old page and retries later, or drops the mark after
// MaxAttempts failures.
func (r *Regenerator) fail(c Claim, outcome, why string) {
	r.stats.outcome(outcome)
	failures := c.Attempts + 1
	if failures >= r.maxAttempts() {
		r.stats.outcome("dropped")
		r.log().Warn("invalidate: giving up on a page; it stays stale and is left for the sweep",
			"key", c.Key, "attempts", failures, "last_error", why)
		r.settle(c, Drop, time.Time{})
		return
	}
	wait := r.backoff(failures)
	r.log().Info("invalidate: regeneration failed; the old page stays", "key", c.Key,
		"outcome", outcome, "err", why, "attempt", failures, "retry_in", wait)
	r.settle(c, Retry, time.Now().Add(wait))
}

func (r *Regenerator) settle(c Claim, v Verdict, notBefore time.Time) (removed bool) {
	removed, err := r.Queue.Settle(c, v, notBefore)
	if err != nil {
		r.log().Error("invalidate: settling a stale mark", "key", c.Key, "err", err)
	}
	return removed
}

// fill rebuilds the origin request of a key: "/path?q" is served by the
// first configured host, "host/path?q" names its host.
func (r *Regenerator) fill(c Claim) (edge.Fill, error) {
	raw := c.Key
	if !strings.HasPrefix(raw, "/") {
		raw = "//" + raw
	}
	res, err := r.Keys.FromURL(raw)
	switch {
	case err != nil:
		return edge.Fill{}, err
	case res.Bypass || string(res.Key) != c.Key:
		return edge.Fill{}, fmt.Errorf("key %q normalises to %q under the current rules", c.Key, res.Key)
	}
	return edge.Fill{Key: c.Key, Host: string(res.Host), URI: string(res.URI), Priority: c.Priority}, nil
}

func (r *Regenerator) backoff(failures int) time.Duration {
	base, limit := r.Backoff, r.MaxBackoff
	if base <= 0 {
		base = 5 * time.Second
	}
	if limit <= 0 {
		limit = 10 * time.Minute
	}
	d := base
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

func (r *Regenerator) rate() float64 {
	if r.Rate == 0 {
		return 10
	}
	return r.Rate
}

func (r *Regenerator) maxAttempts() int {
	if r.MaxAttempts <= 0 {
		return 5
	}
	return r.MaxAttempts
}

func (r *Regenerator) timeout() time.Duration {
	if r.Timeout <= 0 {
		return 60 * time.Second
	}
	return r.Timeout
}

func (r *Regenerator) log() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// signal is a broadcast that cannot be missed: wait returns a channel that
// the next broadcast closes. The zero value is ready to use.
type signal struct {
	mu sync.Mutex    // protects ch
	ch chan struct{} // closed by the next broadcast
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// regenStats are the regenerator's counters.
type regenStats struct {
	mu       sync.Mutex // protects outcomes
	outcomes map[string]int64
	latency  histogram
}

func (s *regenStats) outcome(o string) {
	s.mu.Lock()
	if s.outcomes == nil {
		s.outcomes = make(map[string]int64)
	}
	s.outcomes[o]++
	s.mu.Unlock()
}

// RegenStats is a snapshot of the regenerator's counters.
type RegenStats struct {
	// Outcomes counts regenerations by outcome: changed, unchanged,
	// removed (404/410), origin_error (timeout, unreachable), origin_5xx,
	// uncacheable (private, too large, …), store_error, and dropped (given
	// up on; also counted under its last failure).
	Outcomes map[string]int64
	// MarkToFresh is the time from a page's latest mark to its fresh copy
	// being in place, in seconds.
	MarkToFresh HistogramSnapshot
}

// Stats returns a snapshot of the counters.
func (r *Regenerator) Stats() RegenStats {
	s := &r.stats
	s.mu.Lock()
	out := make(map[string]int64, len(s.outcomes))
	for k, v := range s.outcomes {
		out[k] = v
	}
	s.mu.Unlock()
	return RegenStats{Outcomes: out, MarkToFresh: s.latency.snapshot()}
}

// LatencyBuckets are the upper bounds (seconds) of the mark-to-fresh
// histogram: from a fast origin to a twice-a-day batch.
var LatencyBuckets = [...]float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600}

// histogram is a fixed-bucket histogram (LatencyBuckets).
type histogram struct {
	mu     sync.Mutex                      // protects the fields below
	counts [len(LatencyBuckets) + 1]uint64 // per bucket, the last one +Inf
	count  uint64
	sum    float64
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(LatencyBuckets) && v > LatencyBuckets[i] {
		i++
	}
	h.mu.Lock()
	h.counts[i]++
	h.count++
	h.sum += v
	h.mu.Unlock()
}

// HistogramSnapshot is a histogram's state: Cumulative[i] counts the
// observations ≤ LatencyBuckets[i] (Prometheus style).
type HistogramSnapshot struct {
	Cumulative []uint64
	Count      uint64
	Sum        float64
}

// Quantile estimates the q-quantile (0 < q ≤ 1) as the upper bound of its
// bucket; +Inf when it is beyond the last.
func (h HistogramSnapshot) Quantile(q float64) float64 {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(q * float64(h.Count))
	for i, c := range h.Cumulative {
		if c >= rank {
			return LatencyBuckets[i]
		}
	}
	return math.Inf(1)
}

func (h *histogram) snapshot() HistogramSnapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := HistogramSnapshot{Cumulative: make([]uint64, len(LatencyBuckets)), Count: h.count, Sum: h.sum}
	var run uint64
	for i := range LatencyBuckets {
		run += h.counts[i]
		s.Cumulative[i] = run
	}
	return s
}
