package demo

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Config sizes and slows the site. The zero Config is the article's site:
// 600,000 pages, 30ms per render, 4 workers. It is a plain value: New copies
// it, and a Config may be shared freely.
type Config struct {
	// Pages is the total number of detail pages: about 60% events, 35%
	// people and 5% topics. 0 means 600000; other values below 3 mean 3.
	Pages int
	// Latency is the time each render takes, simulated with a timer while
	// the render slot is held. 0 means 30ms; a negative value means none.
	Latency time.Duration
	// Workers is how many renders may run at once; others queue, as behind a
	// small gunicorn. 0 or a negative value means 4.
	Workers int
	// Seed selects the generated content. 0 means 1.
	Seed int64
	// EdgeAdminURL is edge's admin API ("http://127.0.0.1:9091"), told
	// about the pages a POST /_origin/change touched (change.go). Empty
	// means edge is not told.
	EdgeAdminURL string
	// EdgeToken is the bearer token for EdgeAdminURL. Empty means none.
	EdgeToken string
}

// Site is the demo application. It is safe for concurrent use; its counters
// and sessions live as long as it does.
type Site struct {
	model   *model
	latency time.Duration
	slots   chan struct{} // one token per render in progress
	renders counters
	logins  sessions
	changes *changes // event revisions and the way to edge (change.go)

	// Test hooks, nil outside tests. onQueue runs before a request waits
	// for a render slot; onRender runs while it holds one, before the
	// latency timer starts.
	onQueue, onRender func()
}

// New returns a Site for c, with the defaults applied.
func New(c Config) *Site {
	switch {
	case c.Pages == 0:
		c.Pages = 600000
	case c.Pages < 3:
		c.Pages = 3
	}
	switch {
	case c.Latency == 0:
		c.Latency = 30 * time.Millisecond
	case c.Latency < 0:
		c.Latency = 0
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return &Site{
		model:   newModel(c.Pages, c.Seed),
		latency: c.Latency,
		slots:   make(chan struct{}, c.Workers),
		renders: newCounters(),
		logins:  newSessions(),
		changes: newChanges(c),
	}
}

// Renders returns how many times path has been rendered since New or the
// last reset. path is the request path as fasthttp normalises and routes it
// ("/events/42"), without the query: /events/42?x=1 counts under /events/42.
func (s *Site) Renders(path string) int64 { return s.renders.get(path) }

// TotalRenders returns how many renders there have been since New or the
// last reset.
func (s *Site) TotalRenders() int64 { return s.renders.total.Load() }

// URLs yields the path of every detail page in sitemap order: events, then
// people, then topics, each by ascending id. It is an iter.Seq[string].
func (s *Site) URLs(yield func(path string) bool) {
	var b []byte
	for i := range s.model.pages {
		kind, id := s.model.path(i)
		b = strconv.AppendInt(append(b[:0], kindNames[kind].dir...), int64(id), 10)
		if !yield(string(b)) {
			return
		}
	}
}

// Handler serves the site. It is a fasthttp.RequestHandler.
//
// Everything under /_origin/ is served at once and not counted. Sitemaps are
// counted but not delayed. Every other response, including redirects, 404s
// and the login pages, is a render: it waits for a slot, holds it for the
// latency, and is counted under its path.
func (s *Site) Handler(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if string(path) == "/_origin/change" {
		s.serveChange(ctx)
		return
	}
	if bytes.HasPrefix(path, []byte("/_origin/")) {
		s.serveAdmin(ctx)
		return
	}
	if n, ok := s.sitemapNumber(path); ok {
		s.serveSitemap(ctx, n)
		s.renders.add(path)
		s.renders.remember(ctx, path)
		return
	}
	if !s.acquire(ctx) {
		ctx.Error("shutting down", fasthttp.StatusServiceUnavailable)
		ctx.Response.Header.Set("Retry-After", "1")
		ctx.SetConnectionClose()
		return
	}
	s.serveApp(ctx, path)
	<-s.slots
	s.renders.add(path)
	s.renders.remember(ctx, path)
}

// acquire waits for a render slot and holds it for the latency. It reports
// false, holding nothing, if ctx is done first (the server is shutting down).
func (s *Site) acquire(ctx context.Context) bool {
	if s.onQueue != nil {
		s.onQueue()
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	if s.onRender != nil {
		s.onRender()
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			<-s.slots
			return false
		}
	}
	return true
}

// serveApp routes a render: pages, redirects and the session endpoints.
func (s *Site) serveApp(ctx *fasthttp.RequestCtx, path []byte) {
	switch string(path) {
	case "/accounts/login":
		s.login(ctx)
		return
	case "/accounts/logout":
		s.logout(ctx)
		return
	case "/events", "/people", "/topics":
		if !getOrHead(ctx) {
			return
		}
		ctx.Response.Header.Set("Location", string(path)+"/")
		ctx.Response.Header.Set("Cache-Control", "public, max-age=60")
		ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
		return
	}
	if !getOrHead(ctx) {
		return
	}
	p := getPage(s.logins.user(ctx))
	defer putPage(p)
	s.route(p, ctx, path)
	s.revise(p, path)
	ctx.SetStatusCode(p.status)
	ctx.SetContentType("text/html; charset=utf-8")
	if p.user == "" {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=60")
	} else {
		ctx.Response.Header.Set("Cache-Control", "private, no-store")
		ctx.Response.Header.Set("Vary", "Cookie")
	}
	ctx.Response.Header.SetBytesV("Surrogate-Key", p.keys)
	ctx.SetBody(p.b)
}

// route renders the page at path into p.
func (s *Site) route(p *page, ctx *fasthttp.RequestCtx, path []byte) {
	m := s.model
	if string(path) == "/" {
		m.renderHome(p)
		return
	}
	for kind, k := range kindNames {
		rest, ok := bytes.CutPrefix(path, []byte(k.dir))
		if !ok {
			continue
		}
		if len(rest) == 0 { // list page
			n := 1
			if v := ctx.QueryArgs().Peek("page"); v != nil {
				n = parseID(v)
			}
			if !m.renderList(p, kind, n) {
				p.tagName(listTags[kind])
				m.renderNotFound(p)
			}
			return
		}
		switch id := parseID(rest); {
		case id > m.n[kind]:
			p.tag(kind, id) // the row this page would show, should it appear
		case id < 1:
		case kind == kindEvent:
			m.renderEvent(p, id)
			return
		case kind == kindPerson:
			m.renderPerson(p, id)
			return
		default:
			m.renderTopic(p, id)
			return
		}
		m.renderNotFound(p)
		return
	}
	m.renderNotFound(p)
}

// parseID parses a canonical positive decimal (no sign, no leading zero, at
// most 10 digits); it returns 0 for anything else.
func parseID(b []byte) int {
	if len(b) == 0 || len(b) > 10 || b[0] == '0' {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// getOrHead answers 405 and reports false unless the method is GET or HEAD.
func getOrHead(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	methodNotAllowed(ctx, "GET, HEAD")
	return false
}

// methodNotAllowed answers 405 with the allowed methods.
func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed) // resets the headers
	ctx.Response.Header.Set("Allow", allow)
}
