package proxy

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		ae   string
		want edge.Encoding
	}{
		{"", edge.Identity},
		{"gzip", edge.Gzip},
		{"br", edge.Brotli},
		{"gzip, br", edge.Brotli},
		{"br, gzip", edge.Brotli},
		{"gzip, deflate, br, zstd", edge.Brotli},
		{"deflate", edge.Identity},
		{"identity", edge.Identity},
		{"x-gzip", edge.Identity},
		{"gzipx", edge.Identity},
		// case-insensitive
		{"GZIP", edge.Gzip},
		{"Br", edge.Brotli},
		{"gZiP, BR", edge.Brotli},
		// whitespace
		{"  gzip  ", edge.Gzip},
		{"gzip ,\tbr ", edge.Brotli},
		{"br ; q=0 , gzip", edge.Gzip},
		// q-values
		{"br;q=0, gzip", edge.Gzip},
		{"br;q=0.0, gzip;q=0", edge.Identity},
		{"br;q=0.000, gzip;q=0.001", edge.Gzip},
		{"br;Q=0, gzip", edge.Gzip},
		{"br; q = 0, gzip", edge.Gzip},
		{"br;q=0.5, gzip;q=1.0", edge.Brotli},
		{"gzip;q=1, br;q=0", edge.Gzip},
		{"gzip;q=0", edge.Identity},
		// "*" alone: identity is an acceptable answer
		{"*", edge.Identity},
		{"*;q=0", edge.Identity},
		{"gzip;q=0, *", edge.Identity},
		{",,, gzip,,", edge.Gzip},
	}
	both := &edge.Page{Gzip: []byte{1}, Brotli: []byte{2}}
	for _, tt := range tests {
		if got := best(both, negotiate([]byte(tt.ae))); got != tt.want {
			t.Errorf("best(negotiate(%q)) = %v, want %v", tt.ae, got, tt.want)
		}
	}
	// A page without a brotli variant falls back to gzip, not identity.
	if got := best(&edge.Page{Gzip: []byte{1}}, negotiate([]byte("gzip, br"))); got != edge.Gzip {
		t.Errorf("gzip-only page, gzip+br client: %v, want gzip", got)
	}
	if got := best(&edge.Page{}, negotiate([]byte("gzip, br"))); got != edge.Identity {
		t.Errorf("no variants: %v, want identity", got)
	}
}

func TestQZero(t *testing.T) {
	tests := []struct {
		params string
		want   bool
	}{
		{"q=0", true},
		{"q=0.", true},
		{"q=0.0", true},
		{"q=0.000", true},
		{"Q=0", true},
		{" q = 0 ", true},
		{"\tq=0\t", true},
		{"q=1", false},
		{"q=1.0", false},
		{"q=0.5", false},
		{"q=0.001", false},
		{"q=0.01", false},
		{"q=", false},
		{"q", false},
		{"", false},
		{"x=0", false},
		{"qq=0", false},
	}
	for _, tt := range tests {
		if got := qZero([]byte(tt.params)); got != tt.want {
			t.Errorf("qZero(%q) = %v, want %v", tt.params, got, tt.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	type want struct {
		start, end      int
		ok, satisfiable bool
	}
	full := want{0, 0, false, true}
	unsat := want{0, 0, false, false}
	tests := []struct {
		v    string
		n    int
		want want
	}{
		{"bytes=0-9", 20, want{0, 9, true, true}},
		{"bytes=0-0", 20, want{0, 0, true, true}},
		{"bytes=5-", 20, want{5, 19, true, true}},
		{"bytes=19-", 20, want{19, 19, true, true}},
		{"bytes=-5", 20, want{15, 19, true, true}},
		{"bytes=-20", 20, want{0, 19, true, true}},
		{"bytes=-50", 20, want{0, 19, true, true}}, // suffix longer than the body
		{"bytes= 2-3 ", 20, want{2, 3, true, true}},
		{"bytes=15-100", 20, want{15, 19, true, true}}, // end clipped
		{"bytes=0-19", 20, want{0, 19, true, true}},
		{"bytes=0-20", 20, want{0, 19, true, true}},
		// unsatisfiable
		{"bytes=-0", 20, unsat},
		{"bytes=20-", 20, unsat},
		{"bytes=20-30", 20, unsat},
		{"bytes=25-", 20, unsat},
		{"bytes=0-", 0, unsat},
		{"bytes=-5", 0, unsat},
		// not honoured: the full body is sent
		{"bytes=10-5", 20, full},
		{"bytes=1-2,4-5", 20, full},
		{"bytes=1-2, 4-5", 20, full},
		{"bytes=0-1,", 20, full},
		{"items=0-5", 20, full},
		{"bytes 0-5", 20, full},
		{"0-5", 20, full},
		{"", 20, full},
		{"bytes=", 20, full},
		{"bytes=-", 20, full},
		{"bytes=5", 20, full},
		{"bytes=a-b", 20, full},
		{"bytes=1-b", 20, full},
		{"bytes=--5", 20, full},
		{"bytes=0x1-2", 20, full},
		{"bytes=99999999999999999999999-", 20, full},
	}
	for _, tt := range tests {
		var got want
		got.start, got.end, got.ok, got.satisfiable = parseRange([]byte(tt.v), tt.n)
		if got != tt.want {
			t.Errorf("parseRange(%q, %d) = %+v, want %+v", tt.v, tt.n, got, tt.want)
		}
	}
}

func TestETagListMatch(t *testing.T) {
	const etag = `"abc"`
	tests := []struct {
		list string
		etag string
		weak bool
		want bool
	}{
		{`"abc"`, etag, true, true},
		{`"abc"`, etag, false, true},
		{`"x", "abc"`, etag, true, true},
		{`"x","abc","y"`, etag, false, true},
		{`  "x" ,	"abc"  `, etag, true, true},
		{`*`, etag, true, true},
		{`*`, etag, false, true},
		{` * `, etag, true, true},
		{`"x", *`, etag, true, true},
		{`W/"abc"`, etag, true, true},
		{`"x", W/"abc"`, etag, true, true},
		{`W/"abc"`, etag, false, false},
		{`"abcd"`, etag, true, false},
		{`"ab"`, etag, true, false},
		{`abc`, etag, true, false},
		{`"ABC"`, etag, true, false},
		{`"x", "y"`, etag, true, false},
		{``, etag, true, false},
		{`**`, etag, true, false},
		// a page without a validator matches nothing
		{`""`, "", true, false},
	}
	for _, tt := range tests {
		if got := etagListMatch([]byte(tt.list), tt.etag, tt.weak); got != tt.want {
			t.Errorf("etagListMatch(%q, %q, weak=%v) = %v, want %v", tt.list, tt.etag, tt.weak, got, tt.want)
		}
	}
}

// httpDate formats t as an HTTP date.
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func TestNotModified(t *testing.T) {
	const etag = `"abc"`
	// A modification time with a sub-second part: HTTP dates have none.
	modified := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	equal := httpDate(modified)
	older := httpDate(modified.Add(-time.Second))
	newer := httpDate(modified.Add(time.Hour))
	tests := []struct {
		name   string
		header []string
		want   bool
	}{
		{"none", nil, false},
		{"INM match", hdr(`If-None-Match: "abc"`), true},
		{"INM list match", hdr(`If-None-Match: "x", "abc"`), true},
		{"INM weak match", hdr(`If-None-Match: W/"abc"`), true},
		{"INM star", hdr(`If-None-Match: *`), true},
		{"INM mismatch", hdr(`If-None-Match: "other"`), false},
		{"INM mismatch wins over IMS newer", hdr(`If-None-Match: "other"`, "If-Modified-Since: "+newer), false},
		{"INM match wins over IMS older", hdr(`If-None-Match: "abc"`, "If-Modified-Since: "+older), true},
		{"IMS equal", hdr("If-Modified-Since: " + equal), true},
		{"IMS newer", hdr("If-Modified-Since: " + newer), true},
		{"IMS older", hdr("If-Modified-Since: " + older), false},
		{"IMS bad date", hdr("If-Modified-Since: yesterday"), false},
		{"IMS RFC 3339", hdr("If-Modified-Since: " + modified.Format(time.RFC3339)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request{uri: "/", header: tt.header}.build()
			if got := notModified(&req.Header, etag, modified); got != tt.want {
				t.Errorf("notModified(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestIfRangeOK(t *testing.T) {
	const etag = `"abc"`
	modified := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	tests := []struct {
		name   string
		header []string
		want   bool
	}{
		{"absent", nil, true},
		{"etag match", hdr(`If-Range: "abc"`), true},
		{"etag mismatch", hdr(`If-Range: "abd"`), false},
		{"weak etag never matches", hdr(`If-Range: W/"abc"`), false},
		{"date equal", hdr("If-Range: " + httpDate(modified)), true},
		{"date newer", hdr("If-Range: " + httpDate(modified.Add(time.Second))), false},
		{"date older", hdr("If-Range: " + httpDate(modified.Add(-time.Second))), false},
		{"bad date", hdr("If-Range: soon"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request{uri: "/", header: tt.header}.build()
			if got := ifRangeOK(&req.Header, etag, modified); got != tt.want {
				t.Errorf("ifRangeOK(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

// TestRespond drives respond through the handler for a page held in memory.
func TestRespond(t *testing.T) {
	const body = "0123456789abcdefghij" // 20 bytes
	page := newPage("/page", body)
	lastMod := page.LastModified
	tests := []struct {
		name         string
		header       []string
		status       int
		body         string
		etag         string
		ce           string
		contentRange string
	}{
		{"identity", nil, 200, body, `"_page-v1"`, "", ""},
		{"gzip", hdr("Accept-Encoding: gzip"), 200, "gz(" + body + ")", `"_page-v1-gz"`, "gzip", ""},
		{"brotli", hdr("Accept-Encoding: gzip, deflate, br"), 200, "br(" + body + ")", `"_page-v1-br"`, "br", ""},
		{"brotli refused", hdr("Accept-Encoding: gzip, br;q=0"), 200, "gz(" + body + ")", `"_page-v1-gz"`, "gzip", ""},

		{"INM identity", hdr(`If-None-Match: "_page-v1"`), 304, "", `"_page-v1"`, "", ""},
		{"INM variant", hdr("Accept-Encoding: br", `If-None-Match: "_page-v1-br"`), 304, "", `"_page-v1-br"`, "", ""},
		{"INM weak variant", hdr("Accept-Encoding: br", `If-None-Match: W/"_page-v1-br"`), 304, "", `"_page-v1-br"`, "", ""},
		{"INM other variant", hdr("Accept-Encoding: br", `If-None-Match: "_page-v1"`), 200, "br(" + body + ")", `"_page-v1-br"`, "br", ""},
		{"IMS equal", hdr("If-Modified-Since: " + lastMod), 304, "", `"_page-v1"`, "", ""},
		{"IMS older", hdr("If-Modified-Since: " + httpDate(testNow.Add(-time.Hour))), 200, body, `"_page-v1"`, "", ""},
		{"INM mismatch beats IMS", hdr(`If-None-Match: "nope"`, "If-Modified-Since: "+lastMod), 200, body, `"_page-v1"`, "", ""},

		{"range", hdr("Range: bytes=0-4"), 206, "01234", `"_page-v1"`, "", "bytes 0-4/20"},
		{"range ignores encoding", hdr("Range: bytes=-3", "Accept-Encoding: br"), 206, "hij", `"_page-v1"`, "", "bytes 17-19/20"},
		{"range open", hdr("Range: bytes=15-"), 206, "fghij", `"_page-v1"`, "", "bytes 15-19/20"},
		{"range clipped", hdr("Range: bytes=18-99"), 206, "ij", `"_page-v1"`, "", "bytes 18-19/20"},
		{"range unsatisfiable", hdr("Range: bytes=20-"), 416, "", `"_page-v1"`, "", "bytes */20"},
		{"range suffix zero", hdr("Range: bytes=-0"), 416, "", `"_page-v1"`, "", "bytes */20"},
		{"range multi", hdr("Range: bytes=0-1,3-4"), 200, body, `"_page-v1"`, "", ""},
		{"range other unit", hdr("Range: items=0-1"), 200, body, `"_page-v1"`, "", ""},
		{"If-Range match", hdr("Range: bytes=0-1", `If-Range: "_page-v1"`), 206, "01", `"_page-v1"`, "", "bytes 0-1/20"},
		{"If-Range mismatch", hdr("Range: bytes=0-1", `If-Range: "_page-v0"`), 200, body, `"_page-v1"`, "", ""},
		{"If-Range date", hdr("Range: bytes=0-1", "If-Range: "+lastMod), 206, "01", `"_page-v1"`, "", "bytes 0-1/20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.mem.put(page)
			ctx := h.get("/page", tt.header...)
			resp := &ctx.Response
			if got := resp.StatusCode(); got != tt.status {
				t.Errorf("status = %d, want %d", got, tt.status)
			}
			if got := string(resp.Body()); got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
			checks := []struct{ name, want string }{
				{"ETag", tt.etag},
				{"Content-Encoding", tt.ce},
				{"Content-Range", tt.contentRange},
				{"Vary", "Accept-Encoding"},
				{"X-Cache", "HIT"},
				{"Cache-Status", "edge; hit"},
				{"Age", "42"},
				{"Content-Language", "en"},
			}
			for _, c := range checks {
				if got := respHeader(ctx, c.name); got != c.want {
					t.Errorf("%s = %q, want %q", c.name, got, c.want)
				}
			}
			if tt.status == 304 && !resp.SkipBody {
				t.Error("304 without SkipBody")
			}
			if tt.status != 304 {
				if got := respHeader(ctx, "Last-Modified"); got != lastMod {
					t.Errorf("Last-Modified = %q, want %q", got, lastMod)
				}
			}
			if h.gen.calls() != 0 || len(h.origin.requests()) != 0 {
				t.Errorf("a memory hit reached the generator (%d) or the origin (%d)", h.gen.calls(), len(h.origin.requests()))
			}
		})
	}
}

// TestRespondAge checks that Age counts from GeneratedAt and is never
// negative.
func TestRespondAge(t *testing.T) {
	tests := []struct {
		generated time.Time
		want      string
	}{
		{testNow, "0"},
		{testNow.Add(-1500 * time.Millisecond), "1"},
		{testNow.Add(-time.Hour), "3600"},
		{testNow.Add(time.Minute), "0"}, // clock skew: never negative
	}
	for _, tt := range tests {
		h := newHarness(t, nil)
		p := newPage("/a", "a")
		p.GeneratedAt = tt.generated
		h.mem.put(p.Finish())
		if got := respHeader(h.get("/a"), "Age"); got != tt.want {
			t.Errorf("GeneratedAt now%+v: Age = %q, want %q", tt.generated.Sub(testNow), got, tt.want)
		}
	}
}

// TestRespondOverHTTP checks what only the real server shows: 304 and 416
// framing, and HEAD answered with the headers (Content-Length included) of
// the GET without its body.
func TestRespondOverHTTP(t *testing.T) {
	const body = "0123456789abcdefghij"
	h := newHarness(t, nil)
	h.mem.put(newPage("/page", body))
	c, _ := h.httpServer(t, Limits{})

	for _, ae := range []string{"", "gzip", "br"} {
		t.Run("HEAD "+ae, func(t *testing.T) {
			r := request{uri: "/page", header: hdr("Accept-Encoding: " + ae)}
			get := do(t, c, r)
			r.method = fasthttp.MethodHead
			head := do(t, c, r)
			if get.StatusCode() != 200 || head.StatusCode() != 200 {
				t.Fatalf("status GET %d, HEAD %d, want 200", get.StatusCode(), head.StatusCode())
			}
			if len(head.Body()) != 0 {
				t.Errorf("HEAD body = %q, want none", head.Body())
			}
			if got, want := head.Header.ContentLength(), len(get.Body()); got != want || want == 0 {
				t.Errorf("HEAD Content-Length = %d, GET body is %d bytes", got, want)
			}
			for _, name := range []string{"ETag", "Content-Encoding", "Content-Type", "Vary", "Last-Modified", "X-Cache", "Cache-Status", "Age"} {
				if g, hd := string(get.Header.Peek(name)), string(head.Header.Peek(name)); g != hd {
					t.Errorf("%s: GET %q, HEAD %q", name, g, hd)
				}
			}
			checkCacheHeaders(t, head)
		})
	}

	t.Run("variant ETags differ", func(t *testing.T) {
		seen := map[string]string{}
		for _, ae := range []string{"identity", "gzip", "br"} {
			resp := do(t, c, request{uri: "/page", header: hdr("Accept-Encoding: " + ae)})
			etag := string(resp.Header.Peek("ETag"))
			if etag == "" {
				t.Errorf("%s: no ETag", ae)
			}
			if prev, dup := seen[etag]; dup {
				t.Errorf("%s and %s share ETag %s", prev, ae, etag)
			}
			seen[etag] = ae
		}
	})

	t.Run("304", func(t *testing.T) {
		resp := do(t, c, request{uri: "/page", header: hdr("Accept-Encoding: br", `If-None-Match: "_page-v1-br"`)})
		if resp.StatusCode() != 304 {
			t.Fatalf("status = %d, want 304", resp.StatusCode())
		}
		if len(resp.Body()) != 0 {
			t.Errorf("304 body = %q", resp.Body())
		}
		for name, want := range map[string]string{"ETag": `"_page-v1-br"`, "Vary": "Accept-Encoding", "X-Cache": "HIT"} {
			if got := string(resp.Header.Peek(name)); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		checkCacheHeaders(t, resp)
	})

	t.Run("206", func(t *testing.T) {
		resp := do(t, c, request{uri: "/page", header: hdr("Range: bytes=5-9")})
		if resp.StatusCode() != 206 || string(resp.Body()) != "56789" {
			t.Fatalf("got %d %q, want 206 %q", resp.StatusCode(), resp.Body(), "56789")
		}
		if got := string(resp.Header.Peek("Content-Range")); got != "bytes 5-9/20" {
			t.Errorf("Content-Range = %q", got)
		}
		if got := resp.Header.ContentLength(); got != 5 {
			t.Errorf("Content-Length = %d, want 5", got)
		}
		checkCacheHeaders(t, resp)
	})

	t.Run("416", func(t *testing.T) {
		resp := do(t, c, request{uri: "/page", header: hdr("Range: bytes=50-60")})
		if resp.StatusCode() != 416 {
			t.Fatalf("status = %d, want 416", resp.StatusCode())
		}
		if got := string(resp.Header.Peek("Content-Range")); got != "bytes */20" {
			t.Errorf("Content-Range = %q, want %q", got, "bytes */20")
		}
		if len(resp.Body()) != 0 {
			t.Errorf("416 body = %q", resp.Body())
		}
		checkCacheHeaders(t, resp)
	})
}

// TestEveryResponseHasCacheHeaders covers each way a response is produced
// from a page or the origin: hit, miss, stale, negative hit and bypass.
// (Edge's own error responses are TestErrorResponsesHaveCacheHeaders'.)
func TestEveryResponseHasCacheHeaders(t *testing.T) {
	h := newHarness(t, nil)
	h.mem.put(newPage("/hit", "hit"))
	stale := newPage("/stale", "stale")
	stale.Stale = true
	h.store.put(stale)
	notFound := newPage("/gone", "gone")
	notFound.Status = 404
	h.mem.put(notFound)
	c, _ := h.httpServer(t, Limits{})
	tests := []struct {
		r      request
		xcache string
	}{
		{request{uri: "/hit"}, "HIT"},
		{request{uri: "/miss"}, "MISS"},
		{request{uri: "/stale"}, "STALE"},
		{request{uri: "/gone"}, "HIT"},
		{request{uri: "/x", header: hdr("Authorization: Bearer t")}, "BYPASS"},
		{request{method: "POST", uri: "/form", body: "a=1"}, "BYPASS"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.r.method, tt.r.uri), func(t *testing.T) {
			resp := do(t, c, tt.r)
			checkCacheHeaders(t, resp)
			if got := string(resp.Header.Peek("X-Cache")); got != tt.xcache {
				t.Errorf("X-Cache = %q, want %q", got, tt.xcache)
			}
		})
	}
	h.s.Wait()
}
