package proxy

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// Fakes for the package's interfaces, plus helpers that build a Server
// around them and drive it either directly (s.Handler on a RequestCtx) or
// over real HTTP on an in-memory listener.

// testNow is the fixed clock of every test server; pages are generated
// testAge before it so that Age is predictable.
var (
	testNow = time.Date(2026, 3, 14, 15, 9, 26, 500_000_000, time.UTC)
	testAge = 42 * time.Second
)

// clientAddr is the remote address of every test request.
var clientAddr = &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 40000}

const clientIP = "203.0.113.7"

// memCall records one write to fakeMemory.
type memCall struct {
	Page *edge.Page
	TTL  time.Duration // 0 for Set
	Set  bool          // Set rather than SetTTL
}

// fakeMemory is a Memory: a map under a mutex that records every write.
// Get must not allocate (TestMemoryHitDoesNotAllocate relies on it).
type fakeMemory struct {
	mu     sync.Mutex            // protects pages and writes
	pages  map[string]*edge.Page // by key
	writes []memCall
}

func newFakeMemory() *fakeMemory { return &fakeMemory{pages: make(map[string]*edge.Page)} }

func (m *fakeMemory) Get(key []byte) (*edge.Page, bool) {
	m.mu.Lock()
	p, ok := m.pages[string(key)]
	m.mu.Unlock()
	return p, ok
}

func (m *fakeMemory) Set(p *edge.Page) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pages[p.Key] = p
	m.writes = append(m.writes, memCall{Page: p, Set: true})
	return true
}

func (m *fakeMemory) SetTTL(p *edge.Page, ttl time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pages[p.Key] = p
	m.writes = append(m.writes, memCall{Page: p, TTL: ttl})
	return true
}

// put seeds a page without recording a write.
func (m *fakeMemory) put(p *edge.Page) {
	m.mu.Lock()
	m.pages[p.Key] = p
	m.mu.Unlock()
}

func (m *fakeMemory) calls() []memCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]memCall(nil), m.writes...)
}

// fakeStore is a Store: a map under a mutex. Get returns an error wrapping
// edge.ErrNotFound for an absent key unless GetFn is set; Watch reports
// WatchOK.
type fakeStore struct {
	WatchOK bool
	// GetFn, when set, replaces the map lookup.
	GetFn func(key string) (*edge.Page, error)

	mu      sync.Mutex // protects pages and watched
	pages   map[string]*edge.Page
	watched []string
}

func newFakeStore() *fakeStore { return &fakeStore{pages: make(map[string]*edge.Page), WatchOK: true} }

func (s *fakeStore) Get(key string) (*edge.Page, error) {
	s.mu.Lock()
	fn := s.GetFn
	p, ok := s.pages[key]
	s.mu.Unlock()
	if fn != nil {
		return fn(key)
	}
	if !ok {
		return nil, fmt.Errorf("fakestore: %s: %w", key, edge.ErrNotFound)
	}
	return p, nil
}

// GetVariant returns a copy of the page holding only the representation
// the client is sent, as *store.Store does.
func (s *fakeStore) GetVariant(key string, br, gz bool) (*edge.Page, error) {
	p, err := s.Get(key)
	if err != nil {
		return nil, err
	}
	one := &edge.Page{
		Key: p.Key, Status: p.Status, ContentType: p.ContentType, Header: p.Header,
		Body: p.Body, Gzip: p.Gzip, Brotli: p.Brotli, ETag: p.ETag,
		GeneratedAt: p.GeneratedAt, Tags: p.Tags, Stale: p.Stale,
	}
	one.SetLastServed(p.LastServed())
	switch {
	case br && p.Brotli != nil:
		one.Body, one.Gzip = nil, nil
	case gz && p.Gzip != nil:
		one.Body, one.Brotli = nil, nil
	default:
		one.Gzip, one.Brotli = nil, nil
	}
	return one.Finish(), nil
}

func (s *fakeStore) Watch(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watched = append(s.watched, key)
	return s.WatchOK
}

func (s *fakeStore) put(p *edge.Page) {
	s.mu.Lock()
	s.pages[p.Key] = p
	s.mu.Unlock()
}

func (s *fakeStore) watchedKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.watched...)
}

// fakeGenerator is a Generator that calls Fn (by default: a cacheable 200
// page whose body names the key) and records every Fill.
type fakeGenerator struct {
	Fn func(ctx context.Context, f edge.Fill) (edge.Result, error)

	n     atomic.Int64
	mu    sync.Mutex // protects fills
	fills []edge.Fill
}

func (g *fakeGenerator) Generate(ctx context.Context, f edge.Fill) (edge.Result, error) {
	g.n.Add(1)
	g.mu.Lock()
	g.fills = append(g.fills, f)
	g.mu.Unlock()
	if g.Fn == nil {
		return edge.Result{Page: newPage(f.Key, "generated "+f.Key), Cacheable: true, Changed: true}, nil
	}
	return g.Fn(ctx, f)
}

func (g *fakeGenerator) calls() int { return int(g.n.Load()) }

func (g *fakeGenerator) fillsCopy() []edge.Fill {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]edge.Fill(nil), g.fills...)
}

// fakeOrigin is an Origin that calls Fn (by default: 200 "from origin")
// and keeps a copy of every request it was sent.
type fakeOrigin struct {
	Fn func(ctx context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error

	mu   sync.Mutex // protects reqs
	reqs []*fasthttp.Request
}

func (o *fakeOrigin) Do(ctx context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error {
	c := new(fasthttp.Request)
	req.CopyTo(c)
	o.mu.Lock()
	o.reqs = append(o.reqs, c)
	o.mu.Unlock()
	if o.Fn == nil {
		resp.SetStatusCode(fasthttp.StatusOK)
		resp.Header.SetContentType("text/plain")
		resp.SetBodyString("from origin")
		return nil
	}
	return o.Fn(ctx, p, req, resp)
}

func (o *fakeOrigin) requests() []*fasthttp.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*fasthttp.Request(nil), o.reqs...)
}

// newPage builds a finished 200 page with fake precompressed variants.
func newPage(key, body string) *edge.Page {
	p := &edge.Page{
		Key:         key,
		Status:      fasthttp.StatusOK,
		ContentType: "text/html; charset=utf-8",
		Header:      []edge.Field{{Name: "Content-Language", Value: "en"}},
		Body:        []byte(body),
		Gzip:        []byte("gz(" + body + ")"),
		Brotli:      []byte("br(" + body + ")"),
		ETag:        `"` + strings.NewReplacer("/", "_", "?", "_").Replace(key) + `-v1"`,
		GeneratedAt: testNow.Add(-testAge),
	}
	return p.Finish()
}

// fakeRecency is a Recency that samples like the disk tier does (one
// report per page per minute of its clock, into a bounded lossy buffer) so
// that the hit path's allocation tests cover it. It must not allocate.
type fakeRecency struct {
	now     atomic.Int64    // Unix seconds
	queue   chan *edge.Page // reports that went through
	calls   atomic.Int64    // every Served
	dropped atomic.Int64
}

func newFakeRecency() *fakeRecency {
	r := &fakeRecency{queue: make(chan *edge.Page, 64)}
	r.now.Store(testNow.Unix())
	return r
}

func (r *fakeRecency) Served(p *edge.Page) {
	r.calls.Add(1)
	if !p.TouchServed(r.now.Load(), 60) {
		return
	}
	select {
	case r.queue <- p:
	default:
		r.dropped.Add(1)
	}
}

// reported drains and returns the keys reported so far.
func (r *fakeRecency) reported() []string {
	var keys []string
	for {
		select {
		case p := <-r.queue:
			keys = append(keys, p.Key)
		default:
			return keys
		}
	}
}

// harness is a Server wired to fakes.
type harness struct {
	s       *Server
	mem     *fakeMemory
	store   *fakeStore
	gen     *fakeGenerator
	origin  *fakeOrigin
	recency *fakeRecency
}

func newHarness(t testing.TB, pol *Policy) *harness {
	t.Helper()
	keys, err := cachekey.New(cachekey.Rules{Hosts: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{mem: newFakeMemory(), store: newFakeStore(), gen: &fakeGenerator{}, origin: &fakeOrigin{}, recency: newFakeRecency()}
	h.s = &Server{
		Keys: keys, Memory: h.mem, Store: h.store, Generator: h.gen, Origin: h.origin, Recency: h.recency,
		Proto:  "https",
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return testNow },
	}
	if pol != nil {
		h.s.SetPolicy(*pol)
	}
	return h
}

// request describes one test request.
type request struct {
	method string // "" means GET
	uri    string
	host   string // "" means example.com
	header []string
	body   string
}

// hdr builds a header list from "Name: value" lines.
func hdr(lines ...string) []string { return lines }

func (r request) build() *fasthttp.Request {
	req := new(fasthttp.Request)
	if r.method != "" {
		req.Header.SetMethod(r.method)
	}
	req.SetRequestURI(r.uri)
	host := r.host
	if host == "" {
		host = "example.com"
	}
	req.Header.SetHost(host)
	for _, l := range r.header {
		k, v, _ := strings.Cut(l, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if r.body != "" {
		req.SetBodyString(r.body)
	}
	return req
}

// serve runs the handler directly on a fresh RequestCtx and returns it.
func (h *harness) serve(r request) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(r.build(), clientAddr, nil)
	h.s.Handler(ctx)
	return ctx
}

// get is serve for a GET of uri with optional header lines.
func (h *harness) get(uri string, header ...string) *fasthttp.RequestCtx {
	return h.serve(request{uri: uri, header: header})
}

// respHeader returns a response header value as a string.
func respHeader(ctx *fasthttp.RequestCtx, name string) string {
	return string(ctx.Response.Header.Peek(name))
}

// checkCacheHeaders reports a response without X-Cache, Age or
// Cache-Status.
func checkCacheHeaders(t *testing.T, resp *fasthttp.Response) {
	t.Helper()
	for _, name := range []string{"X-Cache", "Age", "Cache-Status"} {
		if len(resp.Header.Peek(name)) == 0 {
			t.Errorf("response %d has no %s header:\n%s", resp.StatusCode(), name, resp.Header.String())
		}
	}
}

// waitFor polls cond (bounded) until it holds; for counters such as
// Server.Waiting that have no channel to block on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// httpServer serves h.s on an in-memory listener with the given limits and
// returns a client that dials it from clientAddr.
func (h *harness) httpServer(t *testing.T, l Limits) (*fasthttp.HostClient, *fasthttputil.InmemoryListener) {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	srv := h.s.HTTPServer(l)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.ShutdownWithContext(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	c := &fasthttp.HostClient{
		Addr:     "example.com",
		Dial:     func(string) (net.Conn, error) { return ln.DialWithLocalAddr(clientAddr) },
		MaxConns: 64,
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, ln
}

// do sends r through the client and returns the response.
func do(t *testing.T, c *fasthttp.HostClient, r request) *fasthttp.Response {
	t.Helper()
	req := r.build()
	resp := new(fasthttp.Response)
	if err := c.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatalf("%s %s: %v", req.Header.Method(), r.uri, err)
	}
	return resp
}

// rawRoundTrip writes raw bytes on a new connection and reads one response.
func rawRoundTrip(t *testing.T, ln *fasthttputil.InmemoryListener, raw string) *fasthttp.Response {
	t.Helper()
	conn, err := ln.DialWithLocalAddr(clientAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Write concurrently: the server may answer (and stop reading) before
	// it has consumed everything, and a write to the pipe can then block.
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write([]byte(raw))
		werr <- err
	}()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp := new(fasthttp.Response)
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	conn.Close()
	<-werr // a write error is expected when the server closed early
	return resp
}
