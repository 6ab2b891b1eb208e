package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// blockingGen makes the first call of a generator block until release is
// closed, after announcing itself on started; later calls return at once.
type blockingGen struct {
	started chan edge.Fill
	release chan struct{}
	once    sync.Once
	// lead is the leader's result; rest is every later call's.
	lead, rest func(f edge.Fill) (edge.Result, error)
}

func newBlockingGen() *blockingGen {
	ok := func(f edge.Fill) (edge.Result, error) {
		return edge.Result{Page: newPage(f.Key, "generated "+f.Key), Cacheable: true}, nil
	}
	return &blockingGen{started: make(chan edge.Fill, 1), release: make(chan struct{}), lead: ok, rest: ok}
}

func (b *blockingGen) fn(ctx context.Context, f edge.Fill) (edge.Result, error) {
	first := false
	b.once.Do(func() { first = true })
	if !first {
		return b.rest(f)
	}
	b.started <- f
	<-b.release
	return b.lead(f)
}

// goGet runs a GET in the background; the returned channel yields its
// finished RequestCtx.
func (h *harness) goGet(uri string, header ...string) <-chan *fasthttp.RequestCtx {
	ch := make(chan *fasthttp.RequestCtx, 1)
	go func() { ch <- h.get(uri, header...) }()
	return ch
}

func TestMissGeneratesOnceAndStores(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(fmt.Sprint("watch=", watch), func(t *testing.T) {
			h := newHarness(t, nil)
			h.store.WatchOK = watch
			ctx := h.get("/a/b?utm_source=x")
			if got := ctx.Response.StatusCode(); got != 200 {
				t.Fatalf("status = %d", got)
			}
			if got := respHeader(ctx, "X-Cache"); got != "MISS" {
				t.Errorf("X-Cache = %q, want MISS", got)
			}
			if got := respHeader(ctx, "Cache-Status"); got != "edge; fwd=uri-miss; stored" {
				t.Errorf("Cache-Status = %q", got)
			}
			if got, want := string(ctx.Response.Body()), "generated /a/b"; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			fills := h.gen.fillsCopy()
			if len(fills) != 1 {
				t.Fatalf("Generator called %d times, want 1", len(fills))
			}
			want := edge.Fill{Key: "/a/b", Host: "example.com", URI: "/a/b", ClientIP: clientIP, Priority: edge.PriorityMiss}
			if fills[0] != want {
				t.Errorf("fill = %+v, want %+v", fills[0], want)
			}
			checkPromoted(t, h.mem, "/a/b", watch)
			if got := h.store.watchedKeys(); len(got) != 1 || got[0] != "/a/b" {
				t.Errorf("Watch calls = %q", got)
			}

			// The next request is a memory hit.
			ctx = h.get("/a/b")
			if got := respHeader(ctx, "X-Cache"); got != "HIT" {
				t.Errorf("second request X-Cache = %q, want HIT", got)
			}
			if h.gen.calls() != 1 {
				t.Errorf("Generator called %d times, want 1", h.gen.calls())
			}
			if st := h.s.Stats(); st.Miss != 1 || st.Hit != 1 {
				t.Errorf("stats = %+v, want 1 miss 1 hit", st)
			}
		})
	}
}

func TestDiskHitIsPromoted(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(fmt.Sprint("watch=", watch), func(t *testing.T) {
			h := newHarness(t, nil)
			h.store.WatchOK = watch
			h.store.put(newPage("/d", "disk"))
			// The first disk hit reads the page for this response only.
			ctx := h.get("/d")
			if got := respHeader(ctx, "X-Cache"); got != "HIT" || string(ctx.Response.Body()) != "disk" {
				t.Errorf("X-Cache %q body %q, want a HIT of the disk page", got, ctx.Response.Body())
			}
			if _, ok := h.mem.Get([]byte("/d")); ok || len(h.store.watchedKeys()) != 0 {
				t.Fatal("the first disk hit was promoted into memory")
			}
			// The second is promoted.
			ctx = h.get("/d")
			if got := respHeader(ctx, "X-Cache"); got != "HIT" || string(ctx.Response.Body()) != "disk" {
				t.Errorf("X-Cache %q body %q, want a HIT of the disk page", got, ctx.Response.Body())
			}
			checkPromoted(t, h.mem, "/d", watch)
			if h.gen.calls() != 0 {
				t.Error("a disk hit called the Generator")
			}
		})
	}
}

func TestStoreReadErrorIsAMiss(t *testing.T) {
	h := newHarness(t, nil)
	h.store.GetFn = func(key string) (*edge.Page, error) { return nil, errors.New("disk on fire") }
	ctx := h.get("/x")
	if ctx.Response.StatusCode() != 200 || respHeader(ctx, "X-Cache") != "MISS" {
		t.Errorf("got %d %q, want a 200 MISS", ctx.Response.StatusCode(), respHeader(ctx, "X-Cache"))
	}
	if h.gen.calls() != 1 {
		t.Errorf("Generator called %d times, want 1", h.gen.calls())
	}
}

// checkPromoted checks how a page reached memory: with a watch it is held
// without a TTL; without one, whatever the order of the writes, it ends up
// held for one second.
func checkPromoted(t *testing.T, m *fakeMemory, key string, watch bool) {
	t.Helper()
	var last *memCall
	for _, w := range m.calls() {
		if w.Page.Key != key {
			t.Errorf("unexpected memory write of %q", w.Page.Key)
			continue
		}
		if watch && !w.Set {
			t.Errorf("watchable page written with SetTTL(%v), want Set only", w.TTL)
		}
		last = &w
	}
	switch {
	case last == nil:
		t.Errorf("%s was not written to memory", key)
	case !watch && (last.Set || last.TTL != time.Second):
		t.Errorf("unwatchable page: last write Set=%v TTL=%v, want SetTTL 1s", last.Set, last.TTL)
	}
}

// TestLeaderRechecksStore: a page stored between the lookup and the join
// is served without a generation.
func TestLeaderRechecksStore(t *testing.T) {
	h := newHarness(t, nil)
	var mu sync.Mutex
	n := 0
	h.store.GetFn = func(key string) (*edge.Page, error) {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 1 {
			return nil, edge.ErrNotFound
		}
		return newPage(key, "stored meanwhile"), nil
	}
	ctx := h.get("/r")
	if got := string(ctx.Response.Body()); got != "stored meanwhile" {
		t.Errorf("body = %q", got)
	}
	if h.gen.calls() != 0 {
		t.Errorf("Generator called %d times, want 0", h.gen.calls())
	}
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	const n = 8
	h := newHarness(t, nil)
	bg := newBlockingGen()
	h.gen.Fn = bg.fn
	c, _ := h.httpServer(t, Limits{})

	resps := make(chan *fasthttp.Response, n)
	for range n {
		go func() {
			req := request{uri: "/hot"}.build()
			resp := new(fasthttp.Response)
			if err := c.DoTimeout(req, resp, 10*time.Second); err != nil {
				t.Error(err)
			}
			resps <- resp
		}()
	}
	<-bg.started
	waitFor(t, "n-1 waiters", func() bool { return h.s.Waiting() == n-1 })
	close(bg.release)

	statuses := map[string]int{}
	for range n {
		resp := <-resps
		if resp.StatusCode() != 200 || string(resp.Body()) != "generated /hot" {
			t.Errorf("got %d %q", resp.StatusCode(), resp.Body())
		}
		if got := string(resp.Header.Peek("X-Cache")); got != "MISS" {
			t.Errorf("X-Cache = %q, want MISS", got)
		}
		statuses[string(resp.Header.Peek("Cache-Status"))]++
	}
	if got := h.gen.calls(); got != 1 {
		t.Errorf("Generator called %d times, want 1", got)
	}
	if st := h.s.Stats(); st.Coalesced != n-1 {
		t.Errorf("Coalesced = %d, want %d", st.Coalesced, n-1)
	}
	want := map[string]int{"edge; fwd=uri-miss; stored": 1, "edge; fwd=uri-miss; collapsed": n - 1}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Errorf("Cache-Status counts = %v, want %v", statuses, want)
	}
	if got := h.s.Waiting(); got != 0 {
		t.Errorf("Waiting() after the flight = %d", got)
	}
	if got := h.s.InFlight(); got != 0 {
		t.Errorf("InFlight() after the flight = %d", got)
	}
}

func TestLockTimeout(t *testing.T) {
	h := newHarness(t, &Policy{LockTimeout: 50 * time.Millisecond})
	bg := newBlockingGen()
	h.gen.Fn = bg.fn
	leader := h.goGet("/slow")
	if f := <-bg.started; f.NoStore {
		t.Errorf("leader fill has NoStore")
	}

	// This waiter gives up after 50ms and fetches for itself.
	ctx := h.get("/slow")
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "generated /slow" {
		t.Errorf("waiter got %d %q", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if got := respHeader(ctx, "Cache-Status"); got != "edge; fwd=uri-miss; detail=lock-timeout" {
		t.Errorf("waiter Cache-Status = %q", got)
	}
	fills := h.gen.fillsCopy()
	if len(fills) != 2 {
		t.Fatalf("Generator called %d times, want 2", len(fills))
	}
	if !fills[1].NoStore || fills[1].Priority != edge.PriorityMiss || fills[1].Key != "/slow" {
		t.Errorf("waiter fill = %+v, want NoStore at PriorityMiss", fills[1])
	}
	if st := h.s.Stats(); st.LockTimeouts != 1 || st.Coalesced != 0 {
		t.Errorf("LockTimeouts %d Coalesced %d, want 1 and 0", st.LockTimeouts, st.Coalesced)
	}
	if w := h.mem.calls(); len(w) != 0 {
		t.Errorf("the timed-out waiter wrote to memory: %+v", w)
	}
	// That the waiter that gave up no longer counts in Waiting() (or
	// against MaxWaiters) is TestLockTimeoutWaiterLeavesFlight's.

	close(bg.release)
	ctx = <-leader
	if got := respHeader(ctx, "Cache-Status"); ctx.Response.StatusCode() != 200 || got != "edge; fwd=uri-miss; stored" {
		t.Errorf("leader got %d %q", ctx.Response.StatusCode(), got)
	}
	if w := h.mem.calls(); len(w) != 1 || !w[0].Set {
		t.Errorf("memory writes = %+v, want the leader's Set", w)
	}
}

func TestMaxWaiters(t *testing.T) {
	h := newHarness(t, &Policy{MaxWaiters: 1})
	bg := newBlockingGen()
	h.gen.Fn = bg.fn
	leader := h.goGet("/p")
	<-bg.started
	waiter := h.goGet("/p")
	waitFor(t, "one waiter", func() bool { return h.s.Waiting() == 1 })

	ctx := h.get("/p")
	if got := ctx.Response.StatusCode(); got != 503 {
		t.Errorf("status = %d, want 503", got)
	}
	if got := respHeader(ctx, "Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if got := respHeader(ctx, "Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if st := h.s.Stats(); st.Errors5xx != 1 {
		t.Errorf("Errors5xx = %d, want 1", st.Errors5xx)
	}

	close(bg.release)
	for _, ch := range []<-chan *fasthttp.RequestCtx{leader, waiter} {
		if ctx := <-ch; ctx.Response.StatusCode() != 200 {
			t.Errorf("status = %d, want 200", ctx.Response.StatusCode())
		}
	}
	if h.gen.calls() != 1 {
		t.Errorf("Generator called %d times, want 1", h.gen.calls())
	}
}

func TestUncacheableResultIsNotShared(t *testing.T) {
	const uncacheableTTL = 7 * time.Second
	h := newHarness(t, &Policy{UncacheableTTL: uncacheableTTL})
	bg := newBlockingGen()
	bg.lead = func(f edge.Fill) (edge.Result, error) {
		p := &edge.Page{
			Key: f.Key, Status: 200, ContentType: "text/html",
			Header:      []edge.Field{{Name: "Set-Cookie", Value: "sid=leader-secret; HttpOnly"}},
			Body:        []byte("private to the leader"),
			ETag:        `"priv"`,
			GeneratedAt: testNow,
		}
		return edge.Result{Page: p.Finish(), Reason: "set-cookie"}, nil
	}
	h.gen.Fn = bg.fn
	h.origin.Fn = func(_ context.Context, _ edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error {
		resp.SetStatusCode(200)
		resp.SetBodyString("origin for " + string(req.RequestURI()))
		return nil
	}

	leader := h.goGet("/me")
	<-bg.started
	w1, w2 := h.goGet("/me"), h.goGet("/me")
	waitFor(t, "two waiters", func() bool { return h.s.Waiting() == 2 })
	close(bg.release)

	ctx := <-leader
	if got := respHeader(ctx, "Set-Cookie"); !strings.Contains(got, "leader-secret") {
		t.Errorf("leader lost its Set-Cookie: %q", got)
	}
	if got := respHeader(ctx, "Cache-Status"); got != "edge; fwd=uri-miss" {
		t.Errorf("leader Cache-Status = %q, want not stored", got)
	}
	for _, ch := range []<-chan *fasthttp.RequestCtx{w1, w2} {
		ctx := <-ch
		if got := ctx.Response.Header.String(); strings.Contains(got, "leader-secret") {
			t.Errorf("waiter received the leader's cookie:\n%s", got)
		}
		if got := string(ctx.Response.Body()); got != "origin for /me" {
			t.Errorf("waiter body = %q, want the origin's", got)
		}
		if got := respHeader(ctx, "X-Cache"); got != "BYPASS" {
			t.Errorf("waiter X-Cache = %q, want BYPASS", got)
		}
	}
	if got := len(h.origin.requests()); got != 2 {
		t.Errorf("origin passes = %d, want 2", got)
	}

	writes := h.mem.calls()
	if len(writes) != 1 {
		t.Fatalf("memory writes = %+v, want one hit-for-miss marker", writes)
	}
	if w := writes[0]; w.Set || w.TTL != uncacheableTTL || w.Page.Status != 0 || w.Page.Key != "/me" || w.Page.Body != nil || w.Page.Header != nil {
		t.Errorf("marker write = %+v (page %+v), want SetTTL(%v) of an empty Status 0 page", w, w.Page, uncacheableTTL)
	}

	// The marker sends the next request straight to the origin.
	ctx = h.get("/me")
	if got := respHeader(ctx, "X-Cache"); got != "BYPASS" {
		t.Errorf("after the marker X-Cache = %q, want BYPASS", got)
	}
	if got := respHeader(ctx, "Cache-Status"); got != "edge; fwd=uri-miss; detail=uncacheable" {
		t.Errorf("after the marker Cache-Status = %q", got)
	}
	if got := len(h.origin.requests()); got != 3 {
		t.Errorf("origin passes = %d, want 3", got)
	}
	if got := h.gen.calls(); got != 1 {
		t.Errorf("Generator called %d times, want 1", got)
	}
	if st := h.s.Stats(); st.NotStored != 1 || st.Coalesced != 2 || st.Bypass != 3 {
		t.Errorf("stats = %+v, want NotStored 1, Coalesced 2, Bypass 3", st)
	}
}

func TestNegativeResultRemembered(t *testing.T) {
	const negativeTTL = 3 * time.Second
	h := newHarness(t, &Policy{NegativeTTL: negativeTTL})
	h.gen.Fn = func(_ context.Context, f edge.Fill) (edge.Result, error) {
		p := newPage(f.Key, "no such page")
		p.Status = 404
		return edge.Result{Page: p, Negative: true, Reason: "status"}, nil
	}
	ctx := h.get("/missing")
	if ctx.Response.StatusCode() != 404 || respHeader(ctx, "X-Cache") != "MISS" {
		t.Errorf("first: %d %q, want 404 MISS", ctx.Response.StatusCode(), respHeader(ctx, "X-Cache"))
	}
	writes := h.mem.calls()
	if len(writes) != 1 || writes[0].Set || writes[0].TTL != negativeTTL || writes[0].Page.Status != 404 {
		t.Errorf("memory writes = %+v, want SetTTL(%v) of the 404", writes, negativeTTL)
	}
	ctx = h.get("/missing")
	if ctx.Response.StatusCode() != 404 || respHeader(ctx, "X-Cache") != "HIT" || string(ctx.Response.Body()) != "no such page" {
		t.Errorf("second: %d %q %q, want the 404 as a HIT", ctx.Response.StatusCode(), respHeader(ctx, "X-Cache"), ctx.Response.Body())
	}
	if got := respHeader(ctx, "Cache-Status"); got != "edge; hit; detail=negative" {
		t.Errorf("Cache-Status = %q", got)
	}
	if got := h.gen.calls(); got != 1 {
		t.Errorf("Generator called %d times, want 1", got)
	}
	if len(h.store.watchedKeys()) != 0 {
		t.Error("a negative result was promoted")
	}
}

// A stale page (from memory or from disk) is served as STALE and reported
// to OnStale, once per response; the request path never regenerates it
// (the invalidation workers do).
func TestStalePageReportedToOnStale(t *testing.T) {
	h := newHarness(t, nil)
	var mu sync.Mutex
	var reported []string
	h.s.OnStale = func(key string) {
		mu.Lock()
		reported = append(reported, key)
		mu.Unlock()
	}
	inMem := newPage("/m", "old-m")
	inMem.Stale = true
	h.mem.put(inMem)
	onDisk := newPage("/d", "old-d")
	onDisk.Stale = true
	h.store.put(onDisk)
	for _, p := range []string{"/m", "/d", "/m"} {
		ctx := h.get(p)
		if got := respHeader(ctx, "X-Cache"); got != "STALE" || string(ctx.Response.Body()) != "old-"+p[1:] {
			t.Errorf("%s: X-Cache %q body %q, want the stale page", p, got, ctx.Response.Body())
		}
		if got := respHeader(ctx, "Cache-Status"); got != "edge; hit; detail=stale" {
			t.Errorf("%s: Cache-Status = %q", p, got)
		}
	}
	h.s.Wait()
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"/m", "/d", "/m"}; !slices.Equal(reported, want) {
		t.Errorf("OnStale got %v, want %v", reported, want)
	}
	if got := h.gen.calls(); got != 0 {
		t.Errorf("Generator called %d times by the request path, want 0", got)
	}
	if h.s.InFlight() != 0 {
		t.Error("a flight was started for a stale page")
	}
	if st := h.s.Stats(); st.Stale != 3 {
		t.Errorf("stats = %+v, want Stale 3", st)
	}
}

// Without OnStale a stale page is still served, and nothing else happens.
func TestStaleWithoutOnStale(t *testing.T) {
	h := newHarness(t, nil)
	old := newPage("/s", "old")
	old.Stale = true
	h.mem.put(old)
	ctx := h.get("/s")
	h.s.Wait()
	if got := respHeader(ctx, "X-Cache"); got != "STALE" || string(ctx.Response.Body()) != "old" {
		t.Errorf("X-Cache %q body %q", got, ctx.Response.Body())
	}
	if w := h.mem.calls(); len(w) != 0 || h.gen.calls() != 0 {
		t.Errorf("memory writes %+v, generator calls %d; want none", w, h.gen.calls())
	}
}
func TestGeneratorErrors(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		retryAfter string
	}{
		{fmt.Errorf("gen: /e: %w", edge.ErrOriginTimeout), 504, "5"},
		{fmt.Errorf("gen: /e: %w", edge.ErrOriginUnavailable), 502, "5"},
		{fmt.Errorf("gen: /e: %w", edge.ErrOverloaded), 503, "1"},
		{errors.New("something else"), 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			h := newHarness(t, nil)
			h.gen.Fn = func(context.Context, edge.Fill) (edge.Result, error) { return edge.Result{}, tt.err }
			ctx := h.get("/e")
			if got := ctx.Response.StatusCode(); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
			if got := respHeader(ctx, "Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got := respHeader(ctx, "Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if w := h.mem.calls(); len(w) != 0 {
				t.Errorf("an error was stored: %+v", w)
			}
			if st := h.s.Stats(); st.Errors5xx != 1 || st.Miss != 0 {
				t.Errorf("stats = %+v, want one 5xx", st)
			}
			// Nothing remembered: the next request generates again.
			h.get("/e")
			if got := h.gen.calls(); got != 2 {
				t.Errorf("Generator called %d times, want 2", got)
			}
		})
	}
}

func TestStoreErrorStillServes(t *testing.T) {
	h := newHarness(t, nil)
	h.gen.Fn = func(_ context.Context, f edge.Fill) (edge.Result, error) {
		return edge.Result{Page: newPage(f.Key, "fresh"), Cacheable: true, StoreErr: fmt.Errorf("store: %w", edge.ErrStoreFull)}, nil
	}
	ctx := h.get("/f")
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "fresh" {
		t.Errorf("got %d %q, want 200 fresh", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if got := respHeader(ctx, "Cache-Status"); strings.Contains(got, "stored") || got != "edge; fwd=uri-miss" {
		t.Errorf("Cache-Status = %q, want %q", got, "edge; fwd=uri-miss")
	}
	if st := h.s.Stats(); st.StoreErrors != 1 {
		t.Errorf("StoreErrors = %d, want 1", st.StoreErrors)
	}
	if w := h.mem.calls(); len(w) != 1 || w[0].Set || w[0].TTL != 30*time.Second {
		t.Errorf("memory writes = %+v, want a brief SetTTL (UncacheableTTL)", w)
	}
	if len(h.store.watchedKeys()) != 0 {
		t.Error("an unpersisted page was watched")
	}
}

func TestBypass(t *testing.T) {
	spoof := hdr(
		"X-Forwarded-For: 6.6.6.6",
		"X-Forwarded-Proto: gopher",
		"X-Forwarded-Host: evil.example",
		"Forwarded: for=6.6.6.6;host=evil.example",
		"X-Forwarded-Port: 1",
		"X-Forwarded-Scheme: http",
		"X-Forwarded-Server: evil",
		"X-Host: evil.example",
		"X-Original-URL: /admin",
		"X-Rewrite-URL: /admin",
		"X-Real-IP: 6.6.6.6",
	)
	tests := []struct {
		name        string
		r           request
		cacheStatus string
		originURI   string
	}{
		{"authorization", request{uri: "/page", header: hdr("Authorization: Basic dTpw")}, "edge; fwd=request", "/page"},
		{"session cookie", request{uri: "/page", header: hdr("Cookie: sessionid=abc")}, "edge; fwd=request", "/page"},
		{"session cookie among others", request{uri: "/page", header: hdr("Cookie: theme=dark; sessionid=abc; lang=en")}, "edge; fwd=request", "/page"},
		{"bypass path", request{uri: "/admin/users"}, "edge; fwd=request", "/admin/users"},
		{"POST", request{method: "POST", uri: "/page", body: "a=1"}, "edge; fwd=method", "/page"},
		{"DELETE", request{method: "DELETE", uri: "/page"}, "edge; fwd=method", "/page"},
		{"unknown query parameter", request{uri: "/search?q=x&utm_medium=y"}, "edge; fwd=request", "/search?q=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, &Policy{BypassPaths: []string{"/admin/"}})
			h.origin.Fn = func(_ context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error {
				resp.SetStatusCode(201)
				resp.Header.Set("Surrogate-Key", "k1 k2")
				resp.Header.Set("Xkey", "k1")
				resp.Header.Set("Cache-Tag", "k1,k2")
				resp.Header.Set("Surrogate-Control", "max-age=60")
				resp.Header.Set("X-Origin", "yes")
				resp.Header.Add("Set-Cookie", "csrftoken=t")
				resp.SetBodyString("private")
				return nil
			}
			r := tt.r
			r.header = append(append([]string(nil), r.header...), spoof...)
			ctx := h.serve(r)

			if got := ctx.Response.StatusCode(); got != 201 || string(ctx.Response.Body()) != "private" {
				t.Errorf("got %d %q, want the origin's 201", got, ctx.Response.Body())
			}
			for name, want := range map[string]string{
				"X-Cache": "BYPASS", "Cache-Status": tt.cacheStatus, "Age": "0", "X-Origin": "yes", "Set-Cookie": "csrftoken=t",
				"Surrogate-Key": "", "Xkey": "", "Cache-Tag": "", "Surrogate-Control": "",
			} {
				if got := respHeader(ctx, name); got != want {
					t.Errorf("response %s = %q, want %q", name, got, want)
				}
			}
			if h.gen.calls() != 0 {
				t.Errorf("Generator called %d times", h.gen.calls())
			}
			if w := h.mem.calls(); len(w) != 0 {
				t.Errorf("bypass wrote to memory: %+v", w)
			}
			reqs := h.origin.requests()
			if len(reqs) != 1 {
				t.Fatalf("origin got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if m, want := string(got.Header.Method()), r.method; want != "" && m != want {
				t.Errorf("origin method = %q, want %q", m, want)
			}
			if u := string(got.RequestURI()); u != tt.originURI {
				t.Errorf("origin URI = %q, want %q", u, tt.originURI)
			}
			for name, want := range map[string]string{
				"Host": "example.com", "X-Forwarded-For": clientIP, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "example.com",
			} {
				if v := string(got.Header.Peek(name)); v != want {
					t.Errorf("origin %s = %q, want %q", name, v, want)
				}
			}
			for _, name := range spoofable {
				if v := got.Header.Peek(name); v != nil {
					t.Errorf("origin received client's %s: %q", name, v)
				}
			}
			if st := h.s.Stats(); st.Bypass != 1 {
				t.Errorf("Bypass = %d, want 1", st.Bypass)
			}
		})
	}
}

func TestBypassOriginError(t *testing.T) {
	h := newHarness(t, nil)
	h.origin.Fn = func(context.Context, edge.Priority, *fasthttp.Request, *fasthttp.Response) error {
		return fmt.Errorf("origin: %w", edge.ErrOriginTimeout)
	}
	ctx := h.get("/p", "Authorization: Bearer x")
	if got := ctx.Response.StatusCode(); got != 504 {
		t.Errorf("status = %d, want 504", got)
	}
	if st := h.s.Stats(); st.Bypass != 0 || st.Errors5xx != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestCustomBypassCookies(t *testing.T) {
	h := newHarness(t, &Policy{BypassCookies: []string{"auth"}})
	tests := []struct {
		cookie, xcache string
	}{
		{"auth=1", "BYPASS"},
		{"a=b; auth=1", "BYPASS"},
		{"sessionid=1", "MISS"},
		{"authx=1", "HIT"},
	}
	for _, tt := range tests {
		ctx := h.get("/c", "Cookie: "+tt.cookie)
		if got := respHeader(ctx, "X-Cache"); got != tt.xcache {
			t.Errorf("Cookie %q: X-Cache = %q, want %q", tt.cookie, got, tt.xcache)
		}
	}
	if got := len(h.origin.requests()); got != 2 {
		t.Errorf("origin passes = %d, want 2", got)
	}
	if got := h.gen.calls(); got != 1 {
		t.Errorf("Generator called %d times, want 1", got)
	}
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		name   string
		r      request
		status int
	}{
		{"dot segment", request{uri: "/../x"}, 400},
		{"encoded slash", request{uri: "/a%2fb"}, 400},
		{"fragment", request{uri: "/a#b"}, 400},
		{"bad escape", request{uri: "/a%zz"}, 400},
		{"long URI", request{uri: "/" + strings.Repeat("a/", 1500)}, 414},
		{"long segment", request{uri: "/" + strings.Repeat("a", 300)}, 414},
		{"unknown host", request{uri: "/", host: "other.example"}, 421},
		{"bad host", request{uri: "/", host: "exa mple.com"}, 400},
		{"bypass method with bad path", request{method: "POST", uri: "/../x"}, 400},
	}
	h := newHarness(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := h.serve(tt.r)
			if got := ctx.Response.StatusCode(); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
			if got := respHeader(ctx, "Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
	if st := h.s.Stats(); st.Errors4xx != int64(len(tests)) || st.Errors5xx != 0 {
		t.Errorf("Errors4xx %d Errors5xx %d, want %d and 0", st.Errors4xx, st.Errors5xx, len(tests))
	}
	if h.gen.calls() != 0 || len(h.origin.requests()) != 0 {
		t.Error("a rejected request reached the generator or the origin")
	}
}

func TestGeneratorPanic(t *testing.T) {
	h := newHarness(t, nil)
	h.gen.Fn = func(_ context.Context, f edge.Fill) (edge.Result, error) {
		if f.Key == "/boom" {
			panic("generator exploded")
		}
		return edge.Result{Page: newPage(f.Key, "fine"), Cacheable: true}, nil
	}
	c, _ := h.httpServer(t, Limits{})
	resp := do(t, c, request{uri: "/boom"})
	if got := resp.StatusCode(); got != 500 {
		t.Errorf("panic: status = %d, want 500", got)
	}
	if got := string(resp.Header.Peek("Cache-Control")); got != "no-store" {
		t.Errorf("panic: Cache-Control = %q", got)
	}
	if strings.Contains(string(resp.Body()), "exploded") {
		t.Errorf("panic value leaked to the client: %q", resp.Body())
	}
	resp = do(t, c, request{uri: "/ok"})
	if resp.StatusCode() != 200 || string(resp.Body()) != "fine" {
		t.Errorf("after the panic: %d %q, want 200 fine", resp.StatusCode(), resp.Body())
	}
	// The panicking flight was released: the key generates again.
	if got := h.s.InFlight(); got != 0 {
		t.Errorf("InFlight() = %d after a panic", got)
	}
	do(t, c, request{uri: "/boom"})
	if got := h.gen.calls(); got != 3 {
		t.Errorf("Generator called %d times, want 3", got)
	}
	if st := h.s.Stats(); st.Errors5xx != 2 {
		t.Errorf("Errors5xx = %d, want 2", st.Errors5xx)
	}
}

func TestHTTPServerLimits(t *testing.T) {
	h := newHarness(t, nil)
	_, ln := h.httpServer(t, Limits{MaxHeaderBytes: 1024, MaxBodyBytes: 100})
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"small request", "GET /ok HTTP/1.1\r\nHost: example.com\r\n\r\n", 200},
		{"header too big", "GET /ok HTTP/1.1\r\nHost: example.com\r\nX-Big: " + strings.Repeat("x", 2000) + "\r\n\r\n", 431},
		{"body within limit", "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("b", 100), 200},
		{"body too big", "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 200\r\n\r\n" + strings.Repeat("b", 200), 413},
		{"chunked body too big", "POST /form HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nc8\r\n" + strings.Repeat("b", 200) + "\r\n0\r\n\r\n", 413},
	}
	want4xx := int64(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRoundTrip(t, ln, tt.raw)
			if got := resp.StatusCode(); got != tt.status {
				t.Errorf("status = %d, want %d (body %q)", got, tt.status, resp.Body())
			}
			if tt.status >= 400 {
				want4xx++
				if !resp.ConnectionClose() {
					t.Error("connection kept open after a parse error")
				}
			}
		})
	}
	if st := h.s.Stats(); st.Errors4xx != want4xx {
		t.Errorf("Errors4xx = %d, want %d", st.Errors4xx, want4xx)
	}
}

// TestFillTimeout checks the deadline a generation and a pass get: the
// server's FillTimeout (60s when zero), not the client's.
func TestFillTimeout(t *testing.T) {
	tests := []struct {
		fillTimeout, want time.Duration
	}{
		{0, 60 * time.Second},
		{-time.Second, 60 * time.Second},
		{90 * time.Second, 90 * time.Second},
	}
	for _, tt := range tests {
		h := newHarness(t, nil)
		h.s.FillTimeout = tt.fillTimeout
		var genLeft, passLeft time.Duration
		h.gen.Fn = func(ctx context.Context, f edge.Fill) (edge.Result, error) {
			d, ok := ctx.Deadline()
			if !ok {
				t.Error("generation without a deadline")
			}
			genLeft = time.Until(d)
			return edge.Result{Page: newPage(f.Key, "x"), Cacheable: true}, nil
		}
		h.origin.Fn = func(ctx context.Context, _ edge.Priority, _ *fasthttp.Request, resp *fasthttp.Response) error {
			d, ok := ctx.Deadline()
			if !ok {
				t.Error("pass without a deadline")
			}
			passLeft = time.Until(d)
			return nil
		}
		h.get("/t")
		h.get("/t", "Authorization: x")
		for what, left := range map[string]time.Duration{"generation": genLeft, "pass": passLeft} {
			if left > tt.want || left < tt.want-10*time.Second {
				t.Errorf("FillTimeout %v: %s deadline in %v, want about %v", tt.fillTimeout, what, left, tt.want)
			}
		}
	}
}
