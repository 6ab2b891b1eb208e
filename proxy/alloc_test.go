package proxy

import (
	"bufio"
	"runtime"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// hitHarness is a server whose memory holds /page.
func hitHarness(tb testing.TB) *harness {
	h := newHarness(tb, nil)
	h.mem.put(newPage("/page", "<html>a cached page</html>"))
	return h
}

// wireRequest parses a raw request the way the server does (a request
// built with Header.Set differs: its cookies are already parsed).
func wireRequest(tb testing.TB, raw string) *fasthttp.Request {
	req := new(fasthttp.Request)
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		tb.Fatal(err)
	}
	return req
}

// serveHit answers ctx as fasthttp does for the next request on a
// kept-alive connection: the request is replaced by tmpl (when set), the
// response reset, and their buffers kept.
func serveHit(h *harness, ctx *fasthttp.RequestCtx, tmpl *fasthttp.Request) {
	if tmpl != nil {
		tmpl.CopyTo(&ctx.Request)
	}
	ctx.Response.Reset()
	h.s.Handler(ctx)
}

// TestMemoryHitDoesNotAllocate holds a memory hit (Accept-Encoding
// negotiation, the brotli variant, every response header) to zero
// allocations, and a few neighbours of it too.
//
// testing.AllocsPerRun divides with integers, so an allocation made once
// every few requests reads as 0; the second check counts every allocation
// over many requests. Under the race detector sync.Pool drops a quarter of
// its Puts on purpose, so Handler's scratch buffer is reallocated now and
// then (about 134 B per request): the test is skipped there.
func TestMemoryHitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector; run without -race")
	}
	const head = "GET /page HTTP/1.1\r\nHost: example.com\r\nAccept-Encoding: gzip, br\r\n"
	tests := []struct {
		name, raw string
		status    int
		body      string
	}{
		{"gzip, br", head + "\r\n", 200, "br(<html>a cached page</html>)"},
		{"cookie", head + "Cookie: theme=dark; lang=en\r\n\r\n", 200, "br(<html>a cached page</html>)"},
		{"304", head + "If-None-Match: \"_page-v1-br\"\r\n\r\n", 304, ""},
		{"range", head + "Range: bytes=6-11\r\n\r\n", 206, "a cach"},
		{"ignored query", "GET /page?utm_source=x&gclid=y HTTP/1.1\r\nHost: example.com\r\n\r\n", 200, "<html>a cached page</html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hitHarness(t)
			tmpl := wireRequest(t, tt.raw)
			ctx := new(fasthttp.RequestCtx)
			ctx.Init(tmpl, clientAddr, nil)
			serveHit(h, ctx, tmpl) // warm up the buffers
			if code := ctx.Response.StatusCode(); respHeader(ctx, "X-Cache") != "HIT" || code != tt.status || string(ctx.Response.Body()) != tt.body {
				t.Fatalf("warm-up: %d X-Cache %q body %q, want a %d HIT with body %q", code, respHeader(ctx, "X-Cache"), ctx.Response.Body(), tt.status, tt.body)
			}
			if allocs := testing.AllocsPerRun(1000, func() { serveHit(h, ctx, tmpl) }); allocs != 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}

			const runs = 10000
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				serveHit(h, ctx, tmpl)
			}
			runtime.ReadMemStats(&after)
			// Handler's scratch buffer comes from a sync.Pool, which costs 2
			// allocations whenever it misses: after each GC cycle, and now
			// and then when the goroutine moves to another P (a P's private
			// slot cannot be stolen; on a loaded machine that happens dozens of
			// times in a run). Allow those; an allocation on the
			// request path, even one per 64 requests, is far more.
			n := after.Mallocs - before.Mallocs
			allowed := 2*uint64(after.NumGC-before.NumGC) + 40 // one per 64 requests would be 156
			if n > allowed {
				t.Errorf("%d allocations in %d memory hits (%d GC cycles), want at most %d", n, runs, after.NumGC-before.NumGC, allowed)
			}
		})
	}
}

// BenchmarkMemoryHit serves a page held in memory to a GET with
// Accept-Encoding: gzip, br on a reused RequestCtx.
func BenchmarkMemoryHit(b *testing.B) {
	h := hitHarness(b)
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(request{uri: "/page", header: hdr("Accept-Encoding: gzip, br")}.build(), clientAddr, nil)
	serveHit(h, ctx, nil)
	if respHeader(ctx, "X-Cache") != "HIT" || respHeader(ctx, "Content-Encoding") != "br" {
		b.Fatalf("not a brotli hit:\n%s", ctx.Response.Header.String())
	}
	b.ReportAllocs()
	for b.Loop() {
		serveHit(h, ctx, nil)
	}
}
