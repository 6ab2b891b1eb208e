package gen

import (
	"context"
	"fmt"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// Origin sends one request to the dynamic origin under the shared budget.
// *origin.Client satisfies it.
type Origin interface {
	Do(ctx context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error
}

// Store persists a page atomically. *store.Store satisfies it.
type Store interface {
	Put(p *edge.Page) (changed bool, err error)
}

// Generator turns a Fill into a Page. Its exported fields are its
// configuration; set them before the first call and do not change them
// afterwards. It is safe for concurrent use.
type Generator struct {
	// Origin is where pages come from. Required.
	Origin Origin
	// Store is where cacheable pages are written. Required.
	Store Store
	// MaxObjectBytes is the largest body that is stored; larger responses
	// pass through. Zero means 8 MiB.
	MaxObjectBytes int
	// GzipLevel (1-9) and BrotliLevel (1-11) set the compression of the
	// stored variants. Zero or out of range means 6 for gzip and 5 for
	// brotli.
	GzipLevel, BrotliLevel int
	// Proto is sent as X-Forwarded-Proto on fills. Empty means "http".
	Proto string
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Generate fetches f.URI from the origin and, when the response may be
// stored and f.NoStore is false, compresses and persists it (a NoStore
// page has no compressed variants). An origin failure returns an
// error wrapping edge.ErrOriginTimeout or edge.ErrOriginUnavailable (and the
// caller keeps whatever copy it had); a store failure is reported in
// Result.StoreErr while the page is still returned for serving.
func (g *Generator) Generate(ctx context.Context, f edge.Fill) (edge.Result, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI(f.URI)
	req.Header.SetHost(f.Host)
	req.Header.Set(fasthttp.HeaderAcceptEncoding, "identity")
	req.Header.Set(fasthttp.HeaderUserAgent, "pregen-edge/1")
	if f.ClientIP != "" {
		req.Header.Set(fasthttp.HeaderXForwardedFor, f.ClientIP)
	}
	req.Header.Set("X-Forwarded-Proto", g.proto())
	req.Header.Set("X-Forwarded-Host", f.Host)

	if err := g.Origin.Do(ctx, f.Priority, req, resp); err != nil {
		return edge.Result{}, fmt.Errorf("gen: %s: %w", f.URI, err)
	}
	v := judge(resp, g.maxObject())
	page := buildPage(f.Key, resp, g.now(), !v.cacheable)
	res := edge.Result{Page: page, Cacheable: v.cacheable, Negative: v.negative, Reason: v.reason}
	if !v.cacheable {
		page.Finish()
		return res, nil
	}
	if f.NoStore {
		// Served to its requesters only (a miss not admitted, a lock
		// timeout): compressing it would cost more CPU than sending it
		// once, and a flood of such misses must stay cheap.
		page.Finish()
		return res, nil
	}
	compress(page, g.gzipLevel(), g.brotliLevel())
	page.Finish()
	res.Changed, res.StoreErr = g.Store.Put(page)
	return res, nil
}

func (g *Generator) proto() string {
	if g.Proto == "" {
		return "http"
	}
	return g.Proto
}

func (g *Generator) maxObject() int {
	if g.MaxObjectBytes <= 0 {
		return 8 << 20
	}
	return g.MaxObjectBytes
}

func (g *Generator) gzipLevel() int {
	if g.GzipLevel < 1 || g.GzipLevel > 9 {
		return 6
	}
	return g.GzipLevel
}

func (g *Generator) brotliLevel() int {
	if g.BrotliLevel < 1 || g.BrotliLevel > 11 {
		return 5
	}
	return g.BrotliLevel
}

func (g *Generator) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}
