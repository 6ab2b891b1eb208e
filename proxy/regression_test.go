package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// Regression tests for the fixes of the review, one per fix.

// Fix 1: a waiter that hit its lock timeout leaves the flight, so it no
// longer counts in Waiting() nor against MaxWaiters.
func TestLockTimeoutWaiterLeavesFlight(t *testing.T) {
	h := newHarness(t, &Policy{LockTimeout: 50 * time.Millisecond, MaxWaiters: 1})
	bg := newBlockingGen()
	h.gen.Fn = bg.fn
	leader := h.goGet("/slow")
	<-bg.started

	for i := 1; i <= 2; i++ {
		// Waiter i takes the one waiter slot, gives up after 50ms and
		// fetches its own page. With the slot leaked by waiter 1, waiter 2
		// was refused with a 503.
		ctx := h.get("/slow")
		if got := ctx.Response.StatusCode(); got != 200 || string(ctx.Response.Body()) != "generated /slow" {
			t.Errorf("waiter %d: got %d %q, want its own 200 page", i, got, ctx.Response.Body())
		}
		if got := respHeader(ctx, "Cache-Status"); got != "edge; fwd=uri-miss; detail=lock-timeout" {
			t.Errorf("waiter %d: Cache-Status = %q, want the lock timeout's", i, got)
		}
		if got := h.s.Waiting(); got != 0 {
			t.Errorf("after waiter %d timed out: Waiting() = %d, want 0", i, got)
		}
	}
	if st := h.s.Stats(); st.LockTimeouts != 2 || st.Errors5xx != 0 {
		t.Errorf("LockTimeouts %d Errors5xx %d, want 2 and 0", st.LockTimeouts, st.Errors5xx)
	}

	close(bg.release)
	if ctx := <-leader; ctx.Response.StatusCode() != 200 || respHeader(ctx, "Cache-Status") != "edge; fwd=uri-miss; stored" {
		t.Errorf("leader got %d %q", ctx.Response.StatusCode(), respHeader(ctx, "Cache-Status"))
	}
	if got := h.gen.calls(); got != 3 {
		t.Errorf("Generator called %d times, want 3 (leader and two timed-out waiters)", got)
	}
}

// Fix 2: repeated client forwarding headers are all replaced by edge's own
// single line, and X-Forwarded-Host is the canonical host.
func TestPassReplacesRepeatedForwardedHeaders(t *testing.T) {
	h := newHarness(t, nil)
	_, ln := h.httpServer(t, Limits{})
	raw := "GET /page HTTP/1.1\r\n" +
		"Host: example.com:80\r\n" +
		"Authorization: Bearer t\r\n" +
		"X-Forwarded-For: 6.6.6.6\r\n" +
		"X-Forwarded-Proto: gopher\r\n" +
		"X-Forwarded-Host: evil.example\r\n" +
		"X-Forwarded-For: 7.7.7.7\r\n" +
		"X-Forwarded-Proto: ftp\r\n" +
		"X-Forwarded-Host: evil2.example\r\n" +
		"\r\n"
	resp := rawRoundTrip(t, ln, raw)
	if got := string(resp.Header.Peek("X-Cache")); resp.StatusCode() != 200 || got != "BYPASS" {
		t.Fatalf("got %d X-Cache %q, want a 200 BYPASS", resp.StatusCode(), got)
	}
	reqs := h.origin.requests()
	if len(reqs) != 1 {
		t.Fatalf("origin got %d requests, want 1", len(reqs))
	}
	for name, want := range map[string]string{
		"X-Forwarded-For":   clientIP,
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "example.com",
	} {
		var got []string
		for _, v := range reqs[0].Header.PeekAll(name) {
			got = append(got, string(v))
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("origin %s lines = %q, want exactly [%q]", name, got, want)
		}
	}
}

// Fix 3: preconditions apply only to a 200; a remembered 404 and a stored
// 301 are sent as they are, never as a 304.
func TestConditionalOnNon200IsNotNotModified(t *testing.T) {
	later := "If-Modified-Since: " + httpDate(testNow)
	tests := []struct {
		name   string
		status int
		inm    string
	}{
		{"404 If-None-Match", 404, `If-None-Match: "_p-v1"`},
		{"404 If-None-Match star", 404, `If-None-Match: *`},
		{"404 If-Modified-Since", 404, later},
		{"301 If-None-Match", 301, `If-None-Match: "_p-v1"`},
		{"301 If-Modified-Since", 301, later},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			p := newPage("/p", "page body")
			p.Status = tt.status
			if tt.status == 301 {
				p.Header = append(p.Header, edge.Field{Name: "Location", Value: "/q"})
				h.store.put(p) // a redirect is stored on disk
			} else {
				h.mem.put(p) // a 404 is only remembered in memory
			}
			ctx := h.get("/p", tt.inm)
			if got := ctx.Response.StatusCode(); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
			if got := string(ctx.Response.Body()); got != "page body" {
				t.Errorf("body = %q, want the page's", got)
			}
			if tt.status == 301 {
				if got := respHeader(ctx, "Location"); got != "/q" {
					t.Errorf("Location = %q, want /q", got)
				}
			}
			if got := respHeader(ctx, "X-Cache"); got != "HIT" {
				t.Errorf("X-Cache = %q, want HIT", got)
			}
		})
	}
}

// tcpServer serves h.s on a loopback TCP listener (the kind edge listens
// on) and returns its address.
func (h *harness) tcpServer(t *testing.T, l Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
	return ln.Addr().String()
}

// Fix 4: a request whose header does not arrive within ReadTimeout gets a
// 408, not a 400.
func TestPartialHeaderReadTimeoutIs408(t *testing.T) {
	h := newHarness(t, nil)
	addr := h.tcpServer(t, Limits{ReadTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /page HTTP/1.1\r\nHost: example.com\r\nX-Partial: aaa")); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp := new(fasthttp.Response)
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if got := resp.StatusCode(); got != 408 {
		t.Errorf("status = %d, want 408 (body %q)", got, resp.Body())
	}
	if !resp.ConnectionClose() {
		t.Error("connection kept open after a read timeout")
	}
	checkCacheHeaders(t, resp)
	if st := h.s.Stats(); st.Errors4xx != 1 {
		t.Errorf("Errors4xx = %d, want 1", st.Errors4xx)
	}
	if h.gen.calls() != 0 || len(h.origin.requests()) != 0 {
		t.Error("a partial request reached the generator or the origin")
	}
}

// checkErrorCacheHeaders checks an error response edge made itself.
func checkErrorCacheHeaders(t *testing.T, resp *fasthttp.Response, status int) {
	t.Helper()
	if got := resp.StatusCode(); got != status {
		t.Errorf("status = %d, want %d", got, status)
	}
	checkCacheHeaders(t, resp)
	if got := string(resp.Header.Peek("Age")); got != "0" {
		t.Errorf("Age = %q, want 0", got)
	}
	if got := string(resp.Header.Peek("Cache-Status")); !strings.HasPrefix(got, "edge;") {
		t.Errorf("Cache-Status = %q, want edge's", got)
	}
}

// Fix 6: edge's own error responses carry X-Cache, Age and Cache-Status.
func TestErrorResponsesHaveCacheHeaders(t *testing.T) {
	t.Run("handler", func(t *testing.T) {
		tests := []struct {
			name   string
			r      request
			status int
		}{
			{"bad path", request{uri: "/../x"}, 400},
			{"long URI", request{uri: "/" + strings.Repeat("a/", 1500)}, 414},
			{"unknown host", request{uri: "/", host: "other.example"}, 421},
			{"origin unavailable", request{uri: "/broken"}, 502},
		}
		h := newHarness(t, nil)
		h.gen.Fn = func(context.Context, edge.Fill) (edge.Result, error) {
			return edge.Result{}, fmt.Errorf("gen: %w", edge.ErrOriginUnavailable)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				checkErrorCacheHeaders(t, &h.serve(tt.r).Response, tt.status)
			})
		}
	})

	t.Run("too many waiters", func(t *testing.T) {
		h := newHarness(t, &Policy{MaxWaiters: 1})
		bg := newBlockingGen()
		h.gen.Fn = bg.fn
		leader := h.goGet("/p")
		<-bg.started
		waiter := h.goGet("/p")
		waitFor(t, "one waiter", func() bool { return h.s.Waiting() == 1 })
		checkErrorCacheHeaders(t, &h.get("/p").Response, 503)
		close(bg.release)
		<-leader
		<-waiter
	})

	t.Run("parse errors", func(t *testing.T) {
		h := newHarness(t, nil)
		_, ln := h.httpServer(t, Limits{MaxHeaderBytes: 1024, MaxBodyBytes: 100})
		tests := []struct {
			name   string
			raw    string
			status int
		}{
			{"header too big", "GET /ok HTTP/1.1\r\nHost: example.com\r\nX-Big: " + strings.Repeat("x", 2000) + "\r\n\r\n", 431},
			{"body too big", "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 200\r\n\r\n" + strings.Repeat("b", 200), 413},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				checkErrorCacheHeaders(t, rawRoundTrip(t, ln, tt.raw), tt.status)
			})
		}
	})
}

// Fix 7: with a negative NegativeTTL a 404 is not remembered at all (not
// even as a hit-for-miss marker) and is not reported as stored.
func TestNegativeTTLNeverRemembers404(t *testing.T) {
	h := newHarness(t, &Policy{NegativeTTL: -1})
	h.gen.Fn = func(_ context.Context, f edge.Fill) (edge.Result, error) {
		p := newPage(f.Key, "no such page")
		p.Status = 404
		return edge.Result{Page: p, Negative: true, Reason: "status"}, nil
	}
	for i := 1; i <= 2; i++ {
		ctx := h.get("/missing")
		if got := ctx.Response.StatusCode(); got != 404 || string(ctx.Response.Body()) != "no such page" {
			t.Errorf("request %d: got %d %q, want the generated 404", i, got, ctx.Response.Body())
		}
		if got := respHeader(ctx, "X-Cache"); got != "MISS" {
			t.Errorf("request %d: X-Cache = %q, want MISS", i, got)
		}
		if got := respHeader(ctx, "Cache-Status"); got != "edge; fwd=uri-miss" {
			t.Errorf("request %d: Cache-Status = %q, want %q (not stored)", i, got, "edge; fwd=uri-miss")
		}
		if got := h.gen.calls(); got != i {
			t.Errorf("after request %d: Generator called %d times, want %d", i, got, i)
		}
	}
	if w := h.mem.calls(); len(w) != 0 {
		t.Errorf("memory writes = %+v, want none", w)
	}
	if got := len(h.origin.requests()); got != 0 {
		t.Errorf("origin passes = %d, want 0", got)
	}
}

// Fix 9: a client accepting gzip and brotli gets the gzip variant of a
// page that has no brotli one, not the identity body.
func TestGzipVariantWhenNoBrotli(t *testing.T) {
	for _, ae := range []string{"gzip, br", "br, gzip", "br;q=1, gzip;q=0.5"} {
		t.Run(ae, func(t *testing.T) {
			h := newHarness(t, nil)
			p := newPage("/gz", "plain")
			p.Brotli = nil
			h.mem.put(p.Finish())
			ctx := h.get("/gz", "Accept-Encoding: "+ae)
			for name, want := range map[string]string{
				"Content-Encoding": "gzip",
				"ETag":             `"_gz-v1-gz"`,
				"Vary":             "Accept-Encoding",
			} {
				if got := respHeader(ctx, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if got := string(ctx.Response.Body()); ctx.Response.StatusCode() != 200 || got != "gz(plain)" {
				t.Errorf("got %d %q, want 200 with the gzip body", ctx.Response.StatusCode(), got)
			}
		})
	}
}
