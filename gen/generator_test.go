package gen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// fakeOrigin is an Origin whose Do is do.
type fakeOrigin struct {
	do func(ctx context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error
}

func (o *fakeOrigin) Do(ctx context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error {
	return o.do(ctx, p, req, resp)
}

// fakeStore is a Store whose Put is put (nil: accept and report changed); it
// counts the calls.
type fakeStore struct {
	put   func(p *edge.Page) (bool, error)
	calls atomic.Int32
}

func (s *fakeStore) Put(p *edge.Page) (bool, error) {
	s.calls.Add(1)
	if s.put == nil {
		return true, nil
	}
	return s.put(p)
}

var (
	_ Origin = (*fakeOrigin)(nil)
	_ Store  = (*fakeStore)(nil)
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))

// respondWith returns an origin that answers every request with the given
// response.
func respondWith(t *testing.T, status int, body string, header ...string) *fakeOrigin {
	return &fakeOrigin{do: func(_ context.Context, _ edge.Priority, _ *fasthttp.Request, resp *fasthttp.Response) error {
		readResponse(t, resp, status, body, header...)
		return nil
	}}
}

func newGenerator(o Origin, s Store) *Generator {
	return &Generator{Origin: o, Store: s, Now: func() time.Time { return testNow }}
}

// sentRequest is what the origin saw, copied out of fasthttp's buffers.
type sentRequest struct {
	method, uri, host            string
	acceptEncoding, userAgent    string
	forwardedFor, forwardedProto string
	forwardedHost                string
	hasCookie, hasAuthorization  bool
	priority                     edge.Priority
	ctxValue                     any
}

type ctxKey struct{}

// hasHeader reports whether h carries a field named name, in any case.
func hasHeader(h *fasthttp.RequestHeader, name string) bool {
	for k := range h.All() {
		if strings.EqualFold(string(k), name) {
			return true
		}
	}
	return false
}

func TestGenerateRequest(t *testing.T) {
	tests := []struct {
		name      string
		fill      edge.Fill
		proto     string
		wantXFF   string
		wantProto string
	}{
		{
			name:      "plain",
			fill:      edge.Fill{Key: "www.example.com/a", Host: "www.example.com", URI: "/a", ClientIP: "192.0.2.1"},
			wantXFF:   "192.0.2.1",
			wantProto: "http",
		},
		{
			name:      "raw uri",
			fill:      edge.Fill{Key: "k", Host: "shop.example:8080", URI: "/%7Euser/a%2Fb//c/./d/../e?q=a+b&q=%20&z&Z=%zz", ClientIP: "2001:db8::1"},
			proto:     "https",
			wantXFF:   "2001:db8::1",
			wantProto: "https",
		},
		{
			name:      "no client",
			fill:      edge.Fill{Key: "k", Host: "example.org", URI: "/caf\xc3\xa9;v=1?a=%C3%A9&b", Priority: edge.PriorityBulk},
			wantProto: "http",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got sentRequest
			o := &fakeOrigin{do: func(ctx context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error {
				// RequestURI first: anything that parses req.URI() would
				// re-normalize it.
				got = sentRequest{
					uri:              string(req.RequestURI()),
					method:           string(req.Header.Method()),
					host:             string(req.Header.Host()),
					acceptEncoding:   string(req.Header.Peek("Accept-Encoding")),
					userAgent:        string(req.Header.UserAgent()),
					forwardedFor:     string(req.Header.Peek("X-Forwarded-For")),
					forwardedProto:   string(req.Header.Peek("X-Forwarded-Proto")),
					forwardedHost:    string(req.Header.Peek("X-Forwarded-Host")),
					hasCookie:        hasHeader(&req.Header, "Cookie"),
					hasAuthorization: hasHeader(&req.Header, "Authorization"),
					priority:         p,
					ctxValue:         ctx.Value(ctxKey{}),
				}
				readResponse(t, resp, 200, "ok")
				return nil
			}}
			g := newGenerator(o, &fakeStore{})
			g.Proto = tt.proto
			ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
			if _, err := g.Generate(ctx, tt.fill); err != nil {
				t.Fatalf("Generate: %v", err)
			}
			want := sentRequest{
				method: "GET", uri: tt.fill.URI, host: tt.fill.Host,
				acceptEncoding: "identity", userAgent: "pregen-edge/1",
				forwardedFor: tt.wantXFF, forwardedProto: tt.wantProto, forwardedHost: tt.fill.Host,
				priority: tt.fill.Priority, ctxValue: "caller",
			}
			if got != want {
				t.Errorf("origin request:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestGeneratePriority(t *testing.T) {
	for p := range edge.NumPriorities {
		var got atomic.Int32
		got.Store(-1)
		o := &fakeOrigin{do: func(_ context.Context, gotP edge.Priority, _ *fasthttp.Request, resp *fasthttp.Response) error {
			got.Store(int32(gotP))
			readResponse(t, resp, 200, "ok")
			return nil
		}}
		if _, err := newGenerator(o, &fakeStore{}).Generate(context.Background(), edge.Fill{Key: "k", Host: "h", URI: "/", Priority: p}); err != nil {
			t.Fatalf("Generate: %v", err)
		}
		if got := edge.Priority(got.Load()); got != p {
			t.Errorf("origin got priority %v, want %v", got, p)
		}
	}
}

func TestGenerateCacheable(t *testing.T) {
	body := html(2048)
	var stored *edge.Page
	s := &fakeStore{put: func(p *edge.Page) (bool, error) { stored = p; return true, nil }}
	o := respondWith(t, 200, body,
		"Content-Type: text/html; charset=utf-8", "Cache-Control: public, max-age=60",
		"Surrogate-Key: product-7 home", "Content-Language: en", "Date: Thu, 01 Jan 2026 00:00:00 GMT")
	f := edge.Fill{Key: "www.example.com/p/7", Host: "www.example.com", URI: "/p/7"}

	res, err := newGenerator(o, s).Generate(context.Background(), f)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if n := s.calls.Load(); n != 1 {
		t.Fatalf("Put called %d times, want 1", n)
	}
	if stored != res.Page {
		t.Errorf("stored page %p is not the returned page %p", stored, res.Page)
	}
	if !res.Cacheable || res.Negative || res.Reason != "" || !res.Changed || res.StoreErr != nil {
		t.Errorf("Result = {Cacheable %v Negative %v Reason %q Changed %v StoreErr %v}, want {true false \"\" true <nil>}",
			res.Cacheable, res.Negative, res.Reason, res.Changed, res.StoreErr)
	}
	p := stored
	if p.Key != f.Key || p.Status != 200 || string(p.Body) != body || p.ContentType != "text/html; charset=utf-8" {
		t.Errorf("page Key %q Status %d ContentType %q, %d-byte body; want %q 200 %q, %d bytes",
			p.Key, p.Status, p.ContentType, len(p.Body), f.Key, "text/html; charset=utf-8", len(body))
	}
	if !p.GeneratedAt.Equal(testNow) {
		t.Errorf("GeneratedAt = %v, want %v", p.GeneratedAt, testNow)
	}
	if want := testNow.UTC().Format(http.TimeFormat); p.LastModified != want {
		t.Errorf("LastModified = %q, want %q (Finish not applied before Put?)", p.LastModified, want)
	}
	if p.Get("Date") != "" || p.Get("Content-Language") != "en" || strings.Join(p.Tags, " ") != "product-7 home" {
		t.Errorf("Header %q, Tags %q", p.Header, p.Tags)
	}
	base := strings.TrimSuffix(p.ETag, `"`)
	for _, tc := range []struct {
		enc      edge.Encoding
		ce, etag string
	}{
		{edge.Gzip, "gzip", base + `-gz"`},
		{edge.Brotli, "br", base + `-br"`},
	} {
		b, ce, etag := p.Variant(tc.enc)
		if b == nil || ce != tc.ce || etag != tc.etag {
			t.Errorf("Variant(%d) = %d bytes, %q, %q; want a variant, %q, %q", tc.enc, len(b), ce, etag, tc.ce, tc.etag)
		}
	}
}

func TestGenerateNoStore(t *testing.T) {
	s := &fakeStore{}
	o := respondWith(t, 200, html(1024), "Content-Type: text/html")
	res, err := newGenerator(o, s).Generate(context.Background(), edge.Fill{Key: "k", Host: "h", URI: "/", NoStore: true})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if n := s.calls.Load(); n != 0 {
		t.Errorf("Put called %d times for NoStore, want 0", n)
	}
	if !res.Cacheable || res.Changed || res.Page == nil {
		t.Fatalf("Result = %+v, want a cacheable, unchanged page", res)
	}
	if res.Page.LastModified == "" || res.Page.ETag == "" {
		t.Errorf("NoStore page not finished: LastModified %q, ETag %q", res.Page.LastModified, res.Page.ETag)
	}
	// Served once, never kept: not worth compressing.
	if res.Page.Gzip != nil || res.Page.Brotli != nil {
		t.Errorf("NoStore page compressed: gzip %d, brotli %d bytes", len(res.Page.Gzip), len(res.Page.Brotli))
	}
}

func TestGenerateUncacheable(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     []string
		wantReason string
		negative   bool
	}{
		{"set-cookie", 200, []string{"Set-Cookie: sid=42; HttpOnly", "Content-Type: text/html"}, "set-cookie", false},
		{"private", 200, []string{"Cache-Control: private", "Content-Type: text/html"}, "cache-control", false},
		{"vary", 200, []string{"Vary: User-Agent"}, "vary", false},
		{"302", 302, []string{"Location: /login"}, "status", false},
		{"404", 404, []string{"Content-Type: text/html"}, "status", true},
		{"410", 410, nil, "status", true},
		{"404 set-cookie", 404, []string{"Set-Cookie: sid=42"}, "set-cookie", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeStore{}
			body := html(1024)
			res, err := newGenerator(respondWith(t, tt.status, body, tt.header...), s).
				Generate(context.Background(), edge.Fill{Key: "k", Host: "h", URI: "/x"})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if n := s.calls.Load(); n != 0 {
				t.Errorf("Put called %d times, want 0", n)
			}
			if res.Cacheable || res.Negative != tt.negative || res.Reason != tt.wantReason || res.Changed {
				t.Errorf("Result = {Cacheable %v Negative %v Reason %q Changed %v}, want {false %v %q false}",
					res.Cacheable, res.Negative, res.Reason, res.Changed, tt.negative, tt.wantReason)
			}
			p := res.Page
			if p == nil {
				t.Fatal("no page")
			}
			if p.Status != tt.status || string(p.Body) != body || p.LastModified == "" {
				t.Errorf("page Status %d, %d-byte body, LastModified %q; want %d, %d bytes, set", p.Status, len(p.Body), p.LastModified, tt.status, len(body))
			}
			if p.Gzip != nil || p.Brotli != nil {
				t.Errorf("pass-through page compressed")
			}
		})
	}
}

func TestGenerateUncacheableKeepsSetCookie(t *testing.T) {
	o := respondWith(t, 200, "hi", "Set-Cookie: sid=42; HttpOnly", "Set-Cookie: theme=dark")
	res, err := newGenerator(o, &fakeStore{}).Generate(context.Background(), edge.Fill{Key: "k", Host: "h", URI: "/"})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	var cookies []string
	for _, f := range res.Page.Header {
		if f.Name == "Set-Cookie" {
			cookies = append(cookies, f.Value)
		}
	}
	if want := "sid=42; HttpOnly|theme=dark"; strings.Join(cookies, "|") != want {
		t.Errorf("Set-Cookie = %q, want %q", cookies, want)
	}
}

func TestGenerateTooLarge(t *testing.T) {
	s := &fakeStore{}
	g := newGenerator(respondWith(t, 200, html(1000)[:301], "Content-Type: text/html"), s)
	g.MaxObjectBytes = 300
	res, err := g.Generate(context.Background(), edge.Fill{Key: "k", Host: "h", URI: "/"})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if res.Cacheable || res.Reason != "too-large" || s.calls.Load() != 0 {
		t.Errorf("Cacheable %v, Reason %q, %d Puts; want false, too-large, 0", res.Cacheable, res.Reason, s.calls.Load())
	}
}

func TestGenerateOriginError(t *testing.T) {
	for _, sentinel := range []error{edge.ErrOriginTimeout, edge.ErrOriginUnavailable} {
		t.Run(sentinel.Error(), func(t *testing.T) {
			s := &fakeStore{}
			o := &fakeOrigin{do: func(context.Context, edge.Priority, *fasthttp.Request, *fasthttp.Response) error {
				return fmt.Errorf("origin: dial: %w", sentinel)
			}}
			res, err := newGenerator(o, s).Generate(context.Background(), edge.Fill{Key: "k", Host: "h", URI: "/broken?x=1"})
			if !errors.Is(err, sentinel) {
				t.Fatalf("Generate error = %v, want one wrapping %v", err, sentinel)
			}
			if !strings.Contains(err.Error(), "/broken?x=1") {
				t.Errorf("error %q does not name the URI", err)
			}
			if res.Page != nil || res.Cacheable {
				t.Errorf("Result = %+v, want zero", res)
			}
			if n := s.calls.Load(); n != 0 {
				t.Errorf("Put called %d times, want 0", n)
			}
		})
	}
}

func TestGenerateStoreError(t *testing.T) {
	errDisk := errors.New("disk full")
	s := &fakeStore{put: func(*edge.Page) (bool, error) { return false, errDisk }}
	body := html(512)
	res, err := newGenerator(respondWith(t, 200, body, "Content-Type: text/html"), s).
		Generate(context.Background(), edge.Fill{Key: "k", Host: "h", URI: "/"})
	if err != nil {
		t.Fatalf("Generate error = %v, want nil (store errors go to StoreErr)", err)
	}
	if !errors.Is(res.StoreErr, errDisk) {
		t.Errorf("StoreErr = %v, want %v", res.StoreErr, errDisk)
	}
	if res.Page == nil || string(res.Page.Body) != body || !res.Cacheable || res.Changed {
		t.Errorf("Result = {Page %v Cacheable %v Changed %v}, want the page, true, false", res.Page != nil, res.Cacheable, res.Changed)
	}
}

func TestGenerateChanged(t *testing.T) {
	for _, changed := range []bool{true, false} {
		s := &fakeStore{put: func(*edge.Page) (bool, error) { return changed, nil }}
		res, err := newGenerator(respondWith(t, 200, "same"), s).
			Generate(context.Background(), edge.Fill{Key: "k", Host: "h", URI: "/"})
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		if res.Changed != changed {
			t.Errorf("Changed = %v, want %v (from the store)", res.Changed, changed)
		}
	}
}

// TestGenerateConcurrent runs fills in parallel; run it with -race.
func TestGenerateConcurrent(t *testing.T) {
	var mu sync.Mutex // protects keys
	keys := map[string]bool{}
	s := &fakeStore{put: func(p *edge.Page) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		keys[p.Key] = true
		return true, nil
	}}
	o := &fakeOrigin{do: func(_ context.Context, _ edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error {
		readResponse(t, resp, 200, string(req.RequestURI())+html(600), "Content-Type: text/html")
		return nil
	}}
	g := newGenerator(o, s)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			uri := fmt.Sprintf("/page/%d", i)
			res, err := g.Generate(context.Background(), edge.Fill{Key: uri, Host: "h", URI: uri})
			if err != nil {
				t.Errorf("Generate(%s): %v", uri, err)
				return
			}
			if !strings.HasPrefix(string(res.Page.Body), uri+"<") {
				t.Errorf("Generate(%s) body starts %q", uri, res.Page.Body[:20])
			}
		})
	}
	wg.Wait()
	if len(keys) != 16 || s.calls.Load() != 16 {
		t.Errorf("stored %d distinct keys in %d Puts, want 16 in 16", len(keys), s.calls.Load())
	}
}
