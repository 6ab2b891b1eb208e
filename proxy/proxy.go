package proxy

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"log/slog"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/valyala/fasthttp"
)

// Server is edge's request handler. Set the exported fields, then call
// SetPolicy (optional) and use Handler; do not change the fields after the
// first request. It is safe for concurrent use.
type Server struct {
	// Keys turns requests into cache keys. Required.
	Keys *cachekey.Normalizer
	// Memory, Store, Generator and Origin are the tiers and the way to the
	// origin. All required.
	Memory    Memory
	Store     Store
	Generator Generator
	Origin    Origin
	// FillTimeout bounds one generation, independent of the requesting
	// client (a generation finishes and is stored even if its client left).
	// Zero means 60s.
	FillTimeout time.Duration
	// Proto is the scheme clients used to reach edge, sent to the origin as
	// X-Forwarded-Proto on pass-through requests. Empty means "http".
	Proto string
	// Logger receives warnings. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// OnStale is called with the key of every stale page served (X-Cache:
	// STALE), from the request's goroutine; it must not block. It should
	// make sure the page is queued for regeneration (edge wires it to
	// invalidate.Service.Ensure). Nil means nothing is done: the page stays
	// stale until something regenerates it.
	OnStale func(key string)
	// PromoteWindow is how many disk hits the doorkeeper remembers: a page
	// read from disk is copied into memory only on its second disk hit
	// within that many (the first reads just the one
	// representation the client is sent). Zero means 65536; size it near
	// the number of pages the memory tier holds.
	PromoteWindow int
	// Known tells which keys a sitemap or a bulk run named, for
	// AdmitKnown. Nil: no key is known (under AdmitKnown only pages already
	// stored stay stored).
	Known KnownKeys
	// Files, when set, opens a stored representation for sending straight
	// from its file (sendfile) instead of reading it into memory: what a
	// disk hit that is not promoted uses. A key it does not have is looked
	// up in Store as well (which may reach further, e.g. to S3). Nil: disk
	// hits are read through Store.GetVariant.
	Files FileStore
	// Recency, when set, is told of every stored page served (hits and
	// stale hits, from memory or disk). Nil: nobody is told.
	Recency Recency

	door     *doorkeeper
	doorOnce sync.Once
	policy   atomic.Pointer[Policy]
	fw       firewall // the miss firewall's tables (admission, per-client miss rate)
	flights  flight
	bg       sync.WaitGroup // background work started by requests (none since OnStale; Wait stays for callers)
	stats    stats
}

// SetPolicy installs a new policy; requests already running keep the old
// one. Safe for concurrent use.
func (s *Server) SetPolicy(p Policy) { s.policy.Store(p.compile()) }

func (s *Server) pol() *Policy {
	if p := s.policy.Load(); p != nil {
		return p
	}
	s.policy.CompareAndSwap(nil, Policy{}.compile())
	return s.policy.Load()
}

// Wait blocks until background work started by requests has ended (for
// shutdown). Requests start none since stale pages are reported to
// OnStale instead of being refreshed here; Wait stays for its callers.
func (s *Server) Wait() { s.bg.Wait() }

// InFlight reports how many generations are running.
func (s *Server) InFlight() int { return s.flights.inFlight() }

var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Handler is the fasthttp.RequestHandler of the public listener.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	defer s.recoverPanic(ctx)
	buf := scratch.Get().(*[]byte)
	if err := s.serve(ctx, buf); err != nil {
		s.writeError(ctx, err)
	}
	scratch.Put(buf)
}

func (s *Server) serve(ctx *fasthttp.RequestCtx, buf *[]byte) error {
	if ambiguousFraming(&ctx.Request.Header) {
		return errBadFraming
	}
	res, b, err := s.Keys.Normalize((*buf)[:0], ctx.Host(), ctx.RequestURI())
	*buf = b
	if err != nil {
		return err
	}
	pol := s.pol()
	switch {
	case !ctx.IsGet() && !ctx.IsHead():
		return s.pass(ctx, res, csBypassMethod)
	case pol.private(&ctx.Request, res.URI):
		return s.pass(ctx, res, csBypassRequest)
	case res.Bypass:
		// An unknown query parameter: anonymous and origin-bound like a
		// miss, so under the same per-client miss rate.
		if err := s.limitMiss(ctx, pol); err != nil {
			return err
		}
		return s.pass(ctx, res, csBypassRequest)
	}
	if p, ok := s.Memory.Get(res.Key); ok {
		return s.serveStored(ctx, p, nil, res)
	}
	key := string(res.Key)
	p, f, err := s.diskGet(ctx, res.Key, key)
	switch {
	case err == nil:
		return s.serveStored(ctx, p, f, res)
	case !errors.Is(err, edge.ErrNotFound):
		s.log().Warn("disk tier read failed; treating as a miss", "key", key, "err", err)
	}
	return s.miss(ctx, key, res, pol)
}

// serveStored answers from a page held by a tier: a hit, a remembered 404,
// a hit-for-miss marker (then pass), or a stale page (then report it to
// OnStale, which queues its regeneration). When f is set, the body is sent
// from that open file (p is f.Page) and serveStored owns it.
func (s *Server) serveStored(ctx *fasthttp.RequestCtx, p *edge.Page, f *edge.File, res cachekey.Result) error {
	if p.Status == 0 { // remembered as uncacheable: go straight to the origin
		closeFile(f)
		if err := s.limitMiss(ctx, s.pol()); err != nil { // origin-bound like a miss
			return err
		}
		return s.pass(ctx, res, csUncacheableHit)
	}
	s.stats.servedAge.observe(s.now().Sub(p.GeneratedAt))
	switch {
	case p.Stale:
		s.stats.stale.Add(1)
		s.served(p)
		s.refresh(string(res.Key), res, ctx)
		return s.send(ctx, p, f, outStale, csStale)
	case p.Status == fasthttp.StatusNotFound || p.Status == fasthttp.StatusGone:
		s.stats.hit.Add(1)
		return s.send(ctx, p, f, outHit, csNegativeHit)
	default:
		s.stats.hit.Add(1)
		s.served(p)
		return s.send(ctx, p, f, outHit, csHit)
	}
}

// diskGet reads a page from the disk tier for this request. A page read
// for the second time within the doorkeeper's window is read whole and
// promoted into memory; otherwise only the representation this client is
// sent is taken: opened for sending from the file when the tier can
// (Files), else read. It returns the page and, when opened, the file
// (f.Page is the page), which the caller must send or close.
func (s *Server) diskGet(ctx *fasthttp.RequestCtx, bkey []byte, key string) (*edge.Page, *edge.File, error) {
	s.doorOnce.Do(func() { s.door = newDoorkeeper(s.PromoteWindow) })
	if s.door.again(bkey) {
		p, err := s.Store.Get(key)
		if err == nil {
			s.promote(p)
		}
		return p, nil, err
	}
	ranged := len(ctx.Request.Header.Peek(fasthttp.HeaderRange)) > 0
	var a accepted
	if !ranged { // ranges are of the identity body
		a = negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding))
	}
	if s.Files != nil && !ranged {
		f, err := s.Files.OpenVariant(key, a&acceptBrotli != 0, a&acceptGzip != 0)
		switch {
		case err == nil:
			return f.Page, &f, nil
		case !errors.Is(err, edge.ErrNotFound):
			return nil, nil, err
		}
		// Not on local disk: Store may still have it (the S3 tier). A
		// second lookup on a miss is small beside the origin.
	}
	p, err := s.Store.GetVariant(key, a&acceptBrotli != 0, a&acceptGzip != 0)
	return p, nil, err
}

// served reports a stored page served to Recency.
func (s *Server) served(p *edge.Page) {
	if s.Recency != nil {
		s.Recency.Served(p)
	}
}

// promote copies a page into memory and then asks the disk tier to report
// outside changes to it (in this order: replacing a memory copy briefly
// drops its watch); a page that cannot be watched is kept only briefly.
func (s *Server) promote(p *edge.Page) {
	s.Memory.Set(p)
	if !s.Store.Watch(p.Key) {
		s.Memory.SetTTL(p, time.Second)
	}
}

func (s *Server) fill(key string, res cachekey.Result, ctx *fasthttp.RequestCtx, prio edge.Priority, noStore bool) edge.Fill {
	return edge.Fill{
		Key: key, Host: string(res.Host), URI: string(res.URI),
		ClientIP: ctx.RemoteIP().String(), Priority: prio, NoStore: noStore,
	}
}

// miss generates a page nobody has: one generation per key, the other
// requesters blocked on it until it ends or their lock timeout fires.
//
// The miss firewall acts here: a client over its miss rate is refused
// before anything else (waiters count too: the limit is on what a client
// asks, checked before any shared state), and the leader asks the
// admission policy whether the page may be stored (only the leader's
// request counts as a sighting for AdmitSecondHit). A page generated
// without storing is still cacheable content: it is shared with the
// waiters of its flight, never kept.
func (s *Server) miss(ctx *fasthttp.RequestCtx, key string, res cachekey.Result, pol *Policy) error {
	if err := s.limitMiss(ctx, pol); err != nil {
		return err
	}
	c, leader, err := s.flights.join(key, pol.MaxWaiters)
	if err != nil {
		return err
	}
	if leader {
		r, err := s.lead(key, s.fill(key, res, ctx, edge.PriorityMiss, false), c, pol)
		if c.notAdmitted {
			return s.answer(ctx, r, err, csNotAdmitted)
		}
		return s.answer(ctx, r, err, csMissStored)
	}
	t := time.NewTimer(pol.LockTimeout)
	defer t.Stop()
	select {
	case <-c.done:
		s.stats.coalesced.Add(1)
		if c.err != nil || c.res.Cacheable || c.res.Negative {
			if c.notAdmitted {
				return s.answer(ctx, c.res, c.err, csCollapsedNotAdmitted)
			}
			return s.answer(ctx, c.res, c.err, csCollapsed)
		}
		// The response was private to the leader: never share it.
		return s.pass(ctx, res, csUncacheableHit)
	case <-t.C:
		s.flights.leave(c)
		s.stats.lockTimeouts.Add(1)
		r, err := s.generate(s.fill(key, res, ctx, edge.PriorityMiss, true))
		return s.answer(ctx, r, err, csLockTimeout)
	}
}

// lead runs the generation of a flight and publishes it to the waiters.
// A page the admission policy does not admit is generated with NoStore
// and kept nowhere.
func (s *Server) lead(key string, f edge.Fill, c *call, pol *Policy) (r edge.Result, err error) {
	defer func() { s.flights.finish(key, c, r, err) }()
	// Re-check inside the flight: a generation that ended between our
	// lookup and join has already stored the page.
	if p, err := s.Store.Get(key); err == nil && !p.Stale {
		s.promote(p)
		return edge.Result{Page: p, Cacheable: true}, nil
	}
	if !s.admit(key, pol) {
		f.NoStore, c.notAdmitted = true, true
	}
	r, err = s.generate(f)
	if err != nil {
		return r, err
	}
	switch {
	case f.NoStore && (r.Cacheable || r.Negative):
		// Not admitted: served to this flight only. Keeping it in memory
		// would let a flood of once-asked URLs push out the pages that
		// are asked for (404s included).
	case r.Cacheable:
		if r.StoreErr != nil {
			s.stats.storeErrors.Add(1)
			s.log().Warn("page not persisted; serving it anyway", "key", key, "err", r.StoreErr)
			s.Memory.SetTTL(r.Page, pol.UncacheableTTL)
		} else {
			s.promote(r.Page)
		}
	case r.Negative:
		s.stats.notStored.Add(1)
		if pol.NegativeTTL > 0 {
			s.Memory.SetTTL(r.Page, pol.NegativeTTL)
		}
	default:
		s.stats.notStored.Add(1)
		s.Memory.SetTTL(&edge.Page{Key: key}, pol.UncacheableTTL)
	}
	return r, nil
}

func (s *Server) generate(f edge.Fill) (edge.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.fillTimeout())
	defer cancel()
	return s.Generator.Generate(ctx, f)
}

// refresh reports a stale page being served to OnStale, which makes sure
// it is queued for regeneration. The request path never regenerates a
// stale page itself: the invalidation workers do, one regeneration per
// mark, at the pace the origin can bear.
func (s *Server) refresh(key string, _ cachekey.Result, _ *fasthttp.RequestCtx) {
	if s.OnStale != nil {
		s.OnStale(key)
	}
}

// answer writes the result of a generation to one requester.
func (s *Server) answer(ctx *fasthttp.RequestCtx, r edge.Result, err error, cacheStatus string) error {
	if err != nil {
		return err
	}
	if !r.Cacheable || r.StoreErr != nil {
		cacheStatus = csMissNotStored
	}
	s.stats.miss.Add(1)
	s.respond(ctx, r.Page, outMiss, cacheStatus)
	return nil
}

func (s *Server) fillTimeout() time.Duration {
	if s.FillTimeout <= 0 {
		return 60 * time.Second
	}
	return s.FillTimeout
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Waiting reports how many requests are blocked waiting for another
// request's generation.
func (s *Server) Waiting() int { return s.flights.waiting() }

// recoverPanic turns a panic in the request path into a 500 for that one
// request instead of the end of the process (fasthttp does not recover).
func (s *Server) recoverPanic(ctx *fasthttp.RequestCtx) {
	if v := recover(); v != nil {
		s.log().Error("panic serving request", "uri", string(ctx.RequestURI()), "panic", v, "stack", string(debug.Stack()))
		s.writeError(ctx, fmt.Errorf("%w: %v", errPanic, v))
	}
}
