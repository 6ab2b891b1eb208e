package gen

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/pregen/edge"
)

func TestTags(t *testing.T) {
	long := strings.Repeat("t", 257)
	longest := strings.Repeat("m", 256)
	tests := []struct {
		name   string
		header []string
		want   []string
	}{
		{name: "none", want: nil},
		{name: "surrogate-key", header: []string{"Surrogate-Key: a b  c"}, want: []string{"a", "b", "c"}},
		{name: "surrogate-key tabs", header: []string{"Surrogate-Key: a\tb \t c"}, want: []string{"a", "b", "c"}},
		{name: "surrogate-key keeps commas", header: []string{"Surrogate-Key: a,b c"}, want: []string{"a,b", "c"}},
		{name: "xkey", header: []string{"xkey: a, b,c"}, want: []string{"a", "b", "c"}},
		{name: "xkey spaces", header: []string{"Xkey: a b"}, want: []string{"a", "b"}},
		{name: "cache-tag", header: []string{"Cache-Tag: product-1,category-2, home"}, want: []string{"product-1", "category-2", "home"}},
		{name: "lower-case names", header: []string{"surrogate-key: s", "cache-tag: c", "XKEY: x"}, want: []string{"s", "c", "x"}},
		{name: "empty items", header: []string{"Cache-Tag: ,a,, ,b,", "Surrogate-Key:   "}, want: []string{"a", "b"}},
		{name: "dedup", header: []string{"Surrogate-Key: a b a"}, want: []string{"a", "b"}},
		{name: "dedup across headers", header: []string{"Surrogate-Key: a b", "xkey: b, c", "Cache-Tag: c,a,d"}, want: []string{"a", "b", "c", "d"}},
		{name: "several lines", header: []string{"Surrogate-Key: a", "Surrogate-Key: b", "Cache-Tag: c", "Cache-Tag: d"}, want: []string{"a", "b", "c", "d"}},
		{name: "too long dropped", header: []string{"Surrogate-Key: a " + long + " b"}, want: []string{"a", "b"}},
		{name: "256 kept", header: []string{"Cache-Tag: " + longest + "," + long}, want: []string{longest}},
		{name: "other headers ignored", header: []string{"X-Tags: a", "Surrogate-Control: max-age=1", "Link: <x>; rel=tag"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := newResponse(t, 200, "", tt.header...)
			if got := Tags(&resp.Header); !slices.Equal(got, tt.want) {
				t.Errorf("Tags(%q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

// sortedFields returns fs sorted by name, then value.
func sortedFields(fs []edge.Field) []edge.Field {
	fs = slices.Clone(fs)
	slices.SortFunc(fs, func(a, b edge.Field) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Value, b.Value))
	})
	return fs
}

func TestBuildPage(t *testing.T) {
	header := []string{
		"Content-Type: text/html; charset=utf-8",
		"Connection: keep-alive",
		"Keep-Alive: timeout=5",
		"Proxy-Connection: keep-alive",
		"Upgrade: h2c",
		"Date: Mon, 02 Jan 2006 15:04:05 GMT",
		`ETag: "origin-etag"`,
		"Last-Modified: Mon, 02 Jan 2006 15:04:05 GMT",
		"Age: 12",
		"Vary: Accept-Encoding",
		"Server: origin/1",
		"Accept-Ranges: bytes",
		"Surrogate-Key: s1 s2",
		"xkey: x1",
		"Cache-Tag: c1",
		"Surrogate-Control: max-age=3600",
		"X-Cache: HIT",
		"Cache-Status: origin; hit",
		"Set-Cookie: sid=1; Path=/",
		"Location: /elsewhere",
		"Content-Language: de",
		`Link: </style.css>; rel=preload; as=style`,
		"Cache-Control: public, max-age=60",
		"X-Custom: kept",
	}
	kept := []edge.Field{
		{Name: "Location", Value: "/elsewhere"},
		{Name: "Content-Language", Value: "de"},
		{Name: "Link", Value: `</style.css>; rel=preload; as=style`},
		{Name: "Cache-Control", Value: "public, max-age=60"},
		{Name: "X-Custom", Value: "kept"},
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	body := "<p>hello</p>"

	for _, pass := range []bool{false, true} {
		t.Run(fmt.Sprintf("pass=%v", pass), func(t *testing.T) {
			resp := newResponse(t, 200, body, header...)
			p := buildPage("www.example.com/a?b", resp, now, pass)

			want := slices.Clone(kept)
			if pass {
				want = append(want, edge.Field{Name: "Set-Cookie", Value: "sid=1; Path=/"})
			}
			if got, want := sortedFields(p.Header), sortedFields(want); !slices.Equal(got, want) {
				t.Errorf("Header = %q\nwant %q", got, want)
			}
			if p.Key != "www.example.com/a?b" || p.Status != 200 || p.ContentType != "text/html; charset=utf-8" {
				t.Errorf("Key, Status, ContentType = %q, %d, %q; want %q, 200, %q", p.Key, p.Status, p.ContentType, "www.example.com/a?b", "text/html; charset=utf-8")
			}
			if string(p.Body) != body {
				t.Errorf("Body = %q, want %q", p.Body, body)
			}
			if !p.GeneratedAt.Equal(now) {
				t.Errorf("GeneratedAt = %v, want %v", p.GeneratedAt, now)
			}
			if want := []string{"s1", "s2", "x1", "c1"}; !slices.Equal(p.Tags, want) {
				t.Errorf("Tags = %q, want %q", p.Tags, want)
			}
			if p.Gzip != nil || p.Brotli != nil {
				t.Errorf("buildPage compressed: gzip %d, brotli %d bytes", len(p.Gzip), len(p.Brotli))
			}
		})
	}
}

func TestBuildPagePassKeepsContentEncoding(t *testing.T) {
	resp := newResponse(t, 200, "\x1f\x8bxx", "Content-Type: text/plain", "Content-Encoding: gzip", "Set-Cookie: a=1")
	p := buildPage("k", resp, time.Time{}, true)
	if got := p.Get("Content-Encoding"); got != "gzip" {
		t.Errorf("pass page Content-Encoding = %q, want gzip (Header %q)", got, p.Header)
	}
	if got := p.Get("Set-Cookie"); got != "a=1" {
		t.Errorf("pass page Set-Cookie = %q, want a=1", got)
	}
	p = buildPage("k", resp, time.Time{}, false)
	if got := p.Get("Content-Encoding"); got != "" {
		t.Errorf("stored page Content-Encoding = %q, want none", got)
	}
}

func TestBuildPageCopies(t *testing.T) {
	const body = "original body"
	resp := newResponse(t, 301, body, "Location: /to", "Cache-Tag: t", "Content-Type: text/plain")
	p := buildPage("k", resp, time.Time{}, false)

	// The fasthttp response is released and reused after Generate.
	b := resp.Body()
	for i := range b {
		b[i] = 'X'
	}
	readResponse(t, resp, 200, "another response!", "Location: /other", "Cache-Tag: u", "Content-Type: image/png")

	if string(p.Body) != body {
		t.Errorf("Body = %q after reusing the response, want %q", p.Body, body)
	}
	if p.Get("Location") != "/to" || p.ContentType != "text/plain" || !slices.Equal(p.Tags, []string{"t"}) || p.Status != 301 {
		t.Errorf("page changed with the response: Location %q, ContentType %q, Tags %q, Status %d",
			p.Get("Location"), p.ContentType, p.Tags, p.Status)
	}
}

func TestBuildPageEmptyBody(t *testing.T) {
	p := buildPage("k", newResponse(t, 301, "", "Location: /"), time.Time{}, false)
	if p.Body == nil || len(p.Body) != 0 {
		t.Errorf("Body = %#v, want empty non-nil", p.Body)
	}
}

func TestBuildPageETag(t *testing.T) {
	etag := func(body string, header ...string) string {
		return buildPage("k", newResponse(t, 200, body, header...), time.Time{}, false).ETag
	}
	a := etag("body a")
	if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(a) {
		t.Errorf("ETag = %s, want a quoted 32-digit hex string", a)
	}
	if b := etag("body a", "X-Other: header", `ETag: "origin"`); b != a {
		t.Errorf("ETag of the same body = %s, want %s", b, a)
	}
	if b := etag("body b"); b == a {
		t.Errorf("ETag of a different body = %s, same as %s", b, a)
	}
	if b := etag(""); b == a || b == "" {
		t.Errorf("ETag of the empty body = %q", b)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip.NewReader: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func unbrotli(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("brotli decode: %v", err)
	}
	return out
}

func TestCompress(t *testing.T) {
	for _, ct := range []string{"text/html; charset=utf-8", "application/json", "image/svg+xml", "application/ld+json", "TEXT/CSS"} {
		t.Run(ct, func(t *testing.T) {
			body := []byte(html(4096))
			p := &edge.Page{ContentType: ct, Body: body, ETag: `"abc"`}
			compress(p, 6, 5)
			if p.Gzip == nil || p.Brotli == nil {
				t.Fatalf("variants: gzip %v, brotli %v; want both", p.Gzip != nil, p.Brotli != nil)
			}
			if len(p.Gzip) >= len(body) || len(p.Brotli) >= len(body) {
				t.Errorf("variants not smaller: gzip %d, brotli %d, body %d", len(p.Gzip), len(p.Brotli), len(body))
			}
			if got := gunzip(t, p.Gzip); !bytes.Equal(got, body) {
				t.Errorf("gzip variant decodes to %d bytes, want the %d-byte body", len(got), len(body))
			}
			if got := unbrotli(t, p.Brotli); !bytes.Equal(got, body) {
				t.Errorf("brotli variant decodes to %d bytes, want the %d-byte body", len(got), len(body))
			}

			p.Finish()
			for _, tc := range []struct {
				enc      edge.Encoding
				body     []byte
				ce, etag string
			}{
				{edge.Identity, p.Body, "", `"abc"`},
				{edge.Gzip, p.Gzip, "gzip", `"abc-gz"`},
				{edge.Brotli, p.Brotli, "br", `"abc-br"`},
			} {
				b, ce, etag := p.Variant(tc.enc)
				if !bytes.Equal(b, tc.body) || ce != tc.ce || etag != tc.etag {
					t.Errorf("Variant(%d) = %d bytes, %q, %q; want %d bytes, %q, %q", tc.enc, len(b), ce, etag, len(tc.body), tc.ce, tc.etag)
				}
			}
		})
	}
}

func TestCompressSkips(t *testing.T) {
	random := make([]byte, 4096)
	rand.Read(random)
	tests := []struct {
		name string
		ct   string
		body []byte
	}{
		{"small", "text/html", []byte(html(300)[:minCompress-1])},
		{"empty", "text/html", []byte{}},
		{"png", "image/png", []byte(html(4096))},
		{"octet-stream", "application/octet-stream", []byte(html(4096))},
		{"no content type", "", []byte(html(4096))},
		{"does not pay", "text/plain", random},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &edge.Page{ContentType: tt.ct, Body: tt.body}
			compress(p, 6, 5)
			if p.Gzip != nil || p.Brotli != nil {
				t.Errorf("compress(%q, %d bytes): gzip %d, brotli %d bytes; want none", tt.ct, len(tt.body), len(p.Gzip), len(p.Brotli))
			}
			if !bytes.Equal(p.Body, tt.body) {
				t.Errorf("compress changed the body")
			}
		})
	}
}

func TestCompressAtThreshold(t *testing.T) {
	body := []byte(html(1000)[:minCompress])
	p := &edge.Page{ContentType: "text/html", Body: body}
	compress(p, 6, 5)
	if p.Gzip == nil || p.Brotli == nil {
		t.Errorf("compress(%d bytes): gzip %v, brotli %v; want both", len(body), p.Gzip != nil, p.Brotli != nil)
	}
}

func TestCompressible(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"text/html", true},
		{"text/html; charset=utf-8", true},
		{"Text/CSS", true},
		{" text/plain ; charset=utf-8", true},
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"application/javascript", true},
		{"application/xml", true},
		{"application/rss+xml", true},
		{"application/problem+json", true},
		{"image/svg+xml", true},
		{"", false},
		{"image/png", false},
		{"image/jpeg", false},
		{"application/octet-stream", false},
		{"application/zip", false},
		{"font/woff2", false},
	}
	for _, tt := range tests {
		if got := compressible(tt.ct); got != tt.want {
			t.Errorf("compressible(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
}

// TestCompressConcurrent shares the pooled writers between goroutines and
// levels; run it with -race.
func TestCompressConcurrent(t *testing.T) {
	const workers, rounds = 8, 10
	levels := [][2]int{{1, 1}, {6, 5}, {9, 7}}
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				body := []byte(fmt.Sprintf("worker %d round %d\n", w, r) + html(512+w*97+r*31))
				lv := levels[(w+r)%len(levels)]
				p := &edge.Page{ContentType: "text/html", Body: body}
				compress(p, lv[0], lv[1])
				if p.Gzip == nil || p.Brotli == nil {
					errs <- fmt.Errorf("worker %d round %d: missing variant", w, r)
					continue
				}
				zr, err := gzip.NewReader(bytes.NewReader(p.Gzip))
				if err != nil {
					errs <- err
					continue
				}
				gz, err := io.ReadAll(zr)
				if err != nil || !bytes.Equal(gz, body) {
					errs <- fmt.Errorf("worker %d round %d: gzip variant does not decode to its body (err %v)", w, r, err)
				}
				br, err := io.ReadAll(brotli.NewReader(bytes.NewReader(p.Brotli)))
				if err != nil || !bytes.Equal(br, body) {
					errs <- fmt.Errorf("worker %d round %d: brotli variant does not decode to its body (err %v)", w, r, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkCompress16K(b *testing.B) {
	body := []byte(html(16 << 10)[:16<<10])
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p := &edge.Page{ContentType: "text/html; charset=utf-8", Body: body}
		compress(p, 6, 5)
		if p.Gzip == nil || p.Brotli == nil {
			b.Fatal("no variants")
		}
	}
}
