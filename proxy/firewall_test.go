package proxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/valyala/fasthttp"
)

// Tests of the miss firewall: the admission policies (store.admit) and the
// per-client miss rate (origin.miss_rate_per_client).

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// storingGen is a Generator that behaves like gen.Generator towards the
// store: it writes a cacheable page to the fake store unless the Fill says
// NoStore, and counts the writes. Keys under /missing/ are 404s.
type storingGen struct {
	store  *fakeStore
	writes atomic.Int64
	mu     sync.Mutex // protects fills
	fills  []edge.Fill
}

func (g *storingGen) Generate(_ context.Context, f edge.Fill) (edge.Result, error) {
	g.mu.Lock()
	g.fills = append(g.fills, f)
	g.mu.Unlock()
	p := newPage(f.Key, "generated "+f.Key)
	if strings.HasPrefix(f.Key, "/missing/") {
		p.Status = fasthttp.StatusNotFound
		return edge.Result{Page: p, Negative: true, Reason: "status"}, nil
	}
	res := edge.Result{Page: p, Cacheable: true}
	if !f.NoStore {
		g.store.put(p)
		g.writes.Add(1)
		res.Changed = true
	}
	return res, nil
}

func (g *storingGen) lastFill() edge.Fill {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fills[len(g.fills)-1]
}

// fakeKnown is a KnownKeys set.
type fakeKnown map[string]bool

func (k fakeKnown) Known(key string) bool { return k[key] }

// firewallHarness is a harness whose generator stores through the fake
// store, with a settable clock and ?q= part of the cache key (so random
// query strings make distinct keys).
func firewallHarness(t testing.TB, pol Policy) (*harness, *storingGen, *clock) {
	t.Helper()
	h := newHarness(t, &pol)
	keys, err := cachekey.New(cachekey.Rules{Hosts: []string{"example.com"}, QueryAllow: []string{"q"}})
	if err != nil {
		t.Fatal(err)
	}
	h.s.Keys = keys
	g := &storingGen{store: h.store}
	h.s.Generator = g
	clk := &clock{now: testNow}
	h.s.Now = clk.Now
	return h, g, clk
}

// getFrom is harness.get from another client address.
func (h *harness) getFrom(ip string, uri string) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(request{uri: uri}.build(), &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, nil)
	h.s.Handler(ctx)
	return ctx
}

func expect(t *testing.T, what string, ctx *fasthttp.RequestCtx, status int, xcache, cacheStatus string) {
	t.Helper()
	got := fmt.Sprintf("%d %s %q", ctx.Response.StatusCode(), respHeader(ctx, "X-Cache"), respHeader(ctx, "Cache-Status"))
	if want := fmt.Sprintf("%d %s %q", status, xcache, cacheStatus); got != want {
		t.Errorf("%s: %s, want %s", what, got, want)
	}
}

func TestParseAdmission(t *testing.T) {
	for in, want := range map[string]Admission{"": AdmitAlways, "always": AdmitAlways, "second-hit": AdmitSecondHit, "known": AdmitKnown} {
		if got, err := ParseAdmission(in); err != nil || got != want {
			t.Errorf("ParseAdmission(%q) = %v, %v; want %v", in, got, err, want)
		}
		if in != "" && want.String() != in {
			t.Errorf("%v.String() = %q", want, want.String())
		}
	}
	if _, err := ParseAdmission("sometimes"); err == nil {
		t.Error("ParseAdmission(sometimes) succeeded")
	}
}

// TestSecondHitFloodStoresNothing floods a second-hit server with 10,000
// URLs asked for once each (random query strings and unknown paths, the
// latter answered 404) between requests for ten hot pages: nothing of the
// flood is written to the store or to memory, every hot request after the
// first two is a hit, and the flood is still served.
func TestSecondHitFloodStoresNothing(t *testing.T) {
	h, g, _ := firewallHarness(t, Policy{Admit: AdmitSecondHit})
	const hot = 10
	for i := range hot { // two requests each: generated, then admitted and stored
		uri := fmt.Sprintf("/hot/%d", i)
		expect(t, "first "+uri, h.get(uri), 200, "MISS", csNotAdmitted)
		expect(t, "second "+uri, h.get(uri), 200, "MISS", csMissStored)
	}
	if g.writes.Load() != hot {
		t.Fatalf("store writes for the hot pages = %d, want %d", g.writes.Load(), hot)
	}
	memWrites := len(h.mem.calls())

	rng := rand.New(rand.NewPCG(1, 2))
	hotHits := 0
	const flood = 10000
	for i := range flood {
		uri := fmt.Sprintf("/search?q=%016x", rng.Uint64())
		want := 200
		if i%2 == 1 {
			uri, want = fmt.Sprintf("/missing/%016x", rng.Uint64()), 404
		}
		if ctx := h.get(uri); ctx.Response.StatusCode() != want || respHeader(ctx, "X-Cache") != "MISS" {
			t.Fatalf("flood %s: %d %s, want a %d MISS", uri, ctx.Response.StatusCode(), respHeader(ctx, "X-Cache"), want)
		}
		if i%10 == 0 {
			if ctx := h.get(fmt.Sprintf("/hot/%d", i/10%hot)); respHeader(ctx, "X-Cache") == "HIT" {
				hotHits++
			}
		}
	}
	if got := g.writes.Load() - hot; got != 0 {
		t.Errorf("the flood wrote %d pages to the store, want 0", got)
	}
	if got := len(h.mem.calls()) - memWrites; got != 0 {
		t.Errorf("the flood wrote %d pages to memory, want 0", got)
	}
	if hotHits != flood/10 {
		t.Errorf("hot page hits during the flood = %d of %d", hotHits, flood/10)
	}
	st := h.s.Stats()
	if st.NotAdmitted != hot+flood || st.Admitted != hot {
		t.Errorf("Admitted %d NotAdmitted %d, want %d and %d", st.Admitted, st.NotAdmitted, hot, hot+flood)
	}
}

func TestSecondHitWindow(t *testing.T) {
	const window = 10 * time.Minute
	h, g, clk := firewallHarness(t, Policy{Admit: AdmitSecondHit, AdmitWindow: window})

	// Within the window (at its very end): the second request stores.
	expect(t, "first /in", h.get("/in"), 200, "MISS", csNotAdmitted)
	if f := g.lastFill(); !f.NoStore {
		t.Errorf("first request's fill %+v, want NoStore", f)
	}
	if w := h.mem.calls(); len(w) != 0 {
		t.Errorf("a page not admitted was put in memory: %+v", w)
	}
	clk.advance(window)
	expect(t, "second /in", h.get("/in"), 200, "MISS", csMissStored)
	if f := g.lastFill(); f.NoStore {
		t.Errorf("second request's fill %+v, want a stored one", f)
	}
	expect(t, "third /in", h.get("/in"), 200, "HIT", csHit)

	// Outside the window: the second request is a first sighting again,
	// and the third (within the window of the second) stores.
	expect(t, "first /out", h.get("/out"), 200, "MISS", csNotAdmitted)
	clk.advance(window + time.Nanosecond)
	expect(t, "second /out", h.get("/out"), 200, "MISS", csNotAdmitted)
	clk.advance(time.Second)
	expect(t, "third /out", h.get("/out"), 200, "MISS", csMissStored)
	if got := g.writes.Load(); got != 2 {
		t.Errorf("store writes = %d, want 2", got)
	}
}

// TestSecondHitNegative: a 404 asked for once is not remembered in memory;
// asked for twice within the window it is, like a page.
func TestSecondHitNegative(t *testing.T) {
	h, _, _ := firewallHarness(t, Policy{Admit: AdmitSecondHit})
	expect(t, "first", h.get("/missing/a"), 404, "MISS", csMissNotStored)
	if w := h.mem.calls(); len(w) != 0 {
		t.Fatalf("a 404 asked for once was put in memory: %+v", w)
	}
	expect(t, "second", h.get("/missing/a"), 404, "MISS", csMissNotStored)
	expect(t, "third", h.get("/missing/a"), 404, "HIT", csNegativeHit)
}

func TestKnownStoresOnlyKnownKeys(t *testing.T) {
	h, g, _ := firewallHarness(t, Policy{Admit: AdmitKnown})
	h.s.Known = fakeKnown{"/listed": true, "/search?q=listed": true}
	expect(t, "/listed", h.get("/listed"), 200, "MISS", csMissStored)
	expect(t, "/search?q=listed", h.get("/search?q=listed"), 200, "MISS", csMissStored)
	for i := range 3 { // asking again does not make a key known
		expect(t, fmt.Sprint("/unlisted #", i), h.get("/unlisted"), 200, "MISS", csNotAdmitted)
	}
	expect(t, "/listed again", h.get("/listed"), 200, "HIT", csHit)
	if got := g.writes.Load(); got != 2 {
		t.Errorf("store writes = %d, want 2 (the listed keys)", got)
	}
	if _, err := h.store.Get("/unlisted"); err == nil {
		t.Error("/unlisted was stored")
	}
	if st := h.s.Stats(); st.Admitted != 2 || st.NotAdmitted != 3 {
		t.Errorf("Admitted %d NotAdmitted %d, want 2 and 3", st.Admitted, st.NotAdmitted)
	}

	// Without a known set nothing new is stored; a stored page is served.
	h.s.Known = nil
	expect(t, "/listed without a set", h.get("/listed"), 200, "HIT", csHit)
	expect(t, "/other without a set", h.get("/other"), 200, "MISS", csNotAdmitted)
}

func TestAlwaysAdmits(t *testing.T) {
	h, g, _ := firewallHarness(t, Policy{})
	expect(t, "first", h.get("/a"), 200, "MISS", csMissStored)
	if g.writes.Load() != 1 || h.s.Stats().Admitted != 1 {
		t.Errorf("writes %d, stats %+v", g.writes.Load(), h.s.Stats())
	}
}

// TestNotAdmittedResultIsShared: waiters of a flight whose page is not
// admitted get the same page (it is cacheable content, just not kept);
// the origin is asked once.
func TestNotAdmittedResultIsShared(t *testing.T) {
	h := newHarness(t, &Policy{Admit: AdmitSecondHit})
	bg := newBlockingGen()
	h.gen.Fn = bg.fn
	leader := h.goGet("/page")
	f := <-bg.started
	if !f.NoStore {
		t.Errorf("leader's fill %+v, want NoStore", f)
	}
	waiter := h.goGet("/page")
	waitFor(t, "a waiter", func() bool { return h.s.Waiting() == 1 })
	close(bg.release)
	lc, wc := <-leader, <-waiter
	expect(t, "leader", lc, 200, "MISS", csNotAdmitted)
	expect(t, "waiter", wc, 200, "MISS", csCollapsedNotAdmitted)
	if string(wc.Response.Body()) != "generated /page" {
		t.Errorf("waiter's body %q", wc.Response.Body())
	}
	if h.gen.calls() != 1 {
		t.Errorf("generator called %d times, want 1", h.gen.calls())
	}
	if w := h.mem.calls(); len(w) != 0 {
		t.Errorf("memory writes %+v, want none", w)
	}
}

// TestMissRateLimit: a client over its miss rate gets a 429 with
// Retry-After and a clear body, without the origin being asked; another
// client is unaffected; the limited client's hits (memory, disk, stale)
// are all served; after the wait it may miss again.
func TestMissRateLimit(t *testing.T) {
	h, g, clk := firewallHarness(t, Policy{MissRate: 0.25, MissBurst: 2})
	h.mem.put(newPage("/in-memory", "m"))
	h.store.put(newPage("/on-disk", "d"))
	stale := newPage("/stale", "s")
	stale.Stale = true
	h.store.put(stale)

	expect(t, "miss 1", h.get("/a"), 200, "MISS", csMissStored)
	expect(t, "miss 2", h.get("/b"), 200, "MISS", csMissStored)
	ctx := h.get("/c")
	expect(t, "miss 3", ctx, 429, "MISS", csMissRateLimited)
	if got := respHeader(ctx, "Retry-After"); got != "4" {
		t.Errorf("Retry-After %q, want 4 (one miss per 4s)", got)
	}
	if body := string(ctx.Response.Body()); !strings.Contains(body, "too many pages that are not cached") || !strings.Contains(body, "4 seconds") {
		t.Errorf("429 body %q", body)
	}
	if respHeader(ctx, "Cache-Control") != "no-store" {
		t.Errorf("429 Cache-Control %q", respHeader(ctx, "Cache-Control"))
	}
	if got := len(g.fills); got != 2 {
		t.Errorf("origin asked %d times, want 2", got)
	}

	// Hits of every kind, repeatedly, and pages just stored.
	for range 50 {
		expect(t, "memory hit", h.get("/in-memory"), 200, "HIT", csHit)
		expect(t, "disk hit", h.get("/on-disk"), 200, "HIT", csHit)
		expect(t, "stale hit", h.get("/stale"), 200, "STALE", csStale)
		expect(t, "stored miss", h.get("/a"), 200, "HIT", csHit)
	}
	// Another client (and another /64 of IPv6) still misses freely.
	expect(t, "other client", h.getFrom("198.51.100.9", "/d"), 200, "MISS", csMissStored)
	expect(t, "IPv6 client", h.getFrom("2001:db8:1:2::1", "/e"), 200, "MISS", csMissStored)

	clk.advance(3 * time.Second)
	expect(t, "after 3s", h.get("/c"), 429, "MISS", csMissRateLimited)
	clk.advance(time.Second)
	expect(t, "after 4s", h.get("/c"), 200, "MISS", csMissStored)

	st := h.s.Stats()
	if st.RateLimited != 2 || st.Errors4xx != 2 {
		t.Errorf("RateLimited %d Errors4xx %d, want 2 and 2", st.RateLimited, st.Errors4xx)
	}
}

// TestMissRateIPv6Prefix: addresses of one IPv6 /64 share an allowance.
func TestMissRateIPv6Prefix(t *testing.T) {
	h, _, _ := firewallHarness(t, Policy{MissRate: 1, MissBurst: 1})
	expect(t, "first", h.getFrom("2001:db8:1:2::1", "/a"), 200, "MISS", csMissStored)
	expect(t, "same /64", h.getFrom("2001:db8:1:2::ffff", "/b"), 429, "MISS", csMissRateLimited)
	expect(t, "other /64", h.getFrom("2001:db8:1:3::1", "/c"), 200, "MISS", csMissStored)
}

// TestMissRateCountsWaiters: a request that joins another's generation
// still spends its client's allowance (documented choice: the limit is on
// what a client asks for).
func TestMissRateCountsWaiters(t *testing.T) {
	h := newHarness(t, &Policy{MissRate: 1, MissBurst: 2})
	bg := newBlockingGen()
	h.gen.Fn = bg.fn
	leader := h.goGet("/page")
	<-bg.started
	waiter := h.goGet("/page")
	waitFor(t, "a waiter", func() bool { return h.s.Waiting() == 1 })
	expect(t, "third", h.get("/other"), 429, "MISS", csMissRateLimited)
	close(bg.release)
	<-leader
	<-waiter
}

func TestLimiterKeepsActiveClients(t *testing.T) {
	l := new(limiter)
	seed := new(firewall).hashSeed()
	hash := func(i int) uint64 { return clientHash(seed, net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))) }
	flooder := clientHash(seed, net.IPv4(192, 0, 2, 1))
	now := testNow.UnixNano()
	const rate, burst = 1e-9, 5 // no refill within the test
	for range burst {
		if ok, _ := l.take(flooder, now, rate, burst); !ok {
			t.Fatal("burst refused")
		}
	}
	// 1,000,000 other clients pass by, once each, in a fixed table; the
	// flooder keeps missing between them and keeps being refused.
	for i := range 1_000_000 {
		if ok, _ := l.take(hash(i), now, rate, burst); !ok {
			t.Fatalf("new client %d refused", i)
		}
		if i%8 == 0 {
			if ok, _ := l.take(flooder, now, rate, burst); ok {
				t.Fatalf("flooder allowed after %d other clients", i)
			}
		}
	}
}

// TestSeenFailsClosed: a flood far larger than the table never admits a
// key asked for once, and a key asked for twice amid a moderate flood is
// admitted.
func TestSeenFailsClosed(t *testing.T) {
	s := new(seen)
	const window = int64(time.Hour)
	now := testNow.UnixNano()
	if s.observe(42, now, window) {
		t.Fatal("first sighting admitted")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50_000 {
		if s.observe(rng.Uint64(), now, window) {
			t.Fatalf("flood key %d admitted", i)
		}
	}
	if !s.observe(42, now+1, window) {
		t.Error("second sighting amid a moderate flood not admitted")
	}
	for i := range 1_000_000 {
		if s.observe(rng.Uint64()|1<<63, now, window) {
			t.Fatalf("flood key %d admitted", i)
		}
	}
}

// TestMissRateCoversAnonymousPassThrough: requests that reach the origin
// anonymously without being misses (a query parameter outside the key, a
// key remembered as uncacheable) spend the same allowance; private
// requests (session cookie, Authorization, bypass path, POST) never do.
func TestMissRateCoversAnonymousPassThrough(t *testing.T) {
	h, _, _ := firewallHarness(t, Policy{MissRate: 1e-9, MissBurst: 2, BypassPaths: []string{"/admin/"}})
	h.mem.put(&edge.Page{Key: "/uncacheable"}) // hit-for-miss marker
	expect(t, "unknown parameter", h.get("/x?utm_id=1&other=1"), 200, "BYPASS", csBypassRequest)
	expect(t, "uncacheable key", h.get("/uncacheable"), 200, "BYPASS", csUncacheableHit)
	expect(t, "over the rate", h.get("/y?other=2"), 429, "MISS", csMissRateLimited)
	expect(t, "uncacheable over the rate", h.get("/uncacheable"), 429, "MISS", csMissRateLimited)
	for range 5 {
		expect(t, "session", h.get("/z?other=3", "Cookie: sessionid=abc"), 200, "BYPASS", csBypassRequest)
		expect(t, "authorization", h.get("/z", "Authorization: Basic eDp5"), 200, "BYPASS", csBypassRequest)
		expect(t, "bypass path", h.get("/admin/"), 200, "BYPASS", csBypassRequest)
		expect(t, "POST", h.serve(request{method: "POST", uri: "/form", body: "a=1"}), 200, "BYPASS", csBypassMethod)
	}
	if got := h.s.Stats().RateLimited; got != 2 {
		t.Errorf("RateLimited %d, want 2", got)
	}
}
