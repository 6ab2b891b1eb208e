package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// 500 concurrent requests for one new URL reach the origin exactly once;
// every requester gets the page.
func TestCoalescingOneOriginRequest(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		<-release
		page(ctx)
	})
	// The waiters must all arrive while the generation is held: on a
	// loaded machine 500 connections take a while, so the lock timeout is
	// far longer than the default 5s. A failure must still free the
	// origin's handler, or the test would hang until go test's timeout.
	e := startEdge(t, o.URL, func(c *Config) { c.Cache.LockTimeout = 2 * time.Minute })
	t.Cleanup(free)

	const n = 500
	var wg sync.WaitGroup
	results := make(chan response, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := do("GET", e.URL+"/events/1")
			if err != nil {
				t.Error(err)
				return
			}
			results <- r
		}()
	}
	<-o.notify // the one generation reached the origin
	eventually(t, time.Minute, "all other requests wait on the generation", func() bool {
		return e.proxy.Waiting() == n-1
	})
	free()
	wg.Wait()
	close(results)
	for r := range results {
		if r.Status != 200 || !strings.Contains(r.Body, "<h1>/events/1</h1>") {
			t.Fatalf("got %d %q", r.Status, r.Body[:min(len(r.Body), 80)])
		}
		if x := r.Header.Get("X-Cache"); x != "MISS" {
			t.Fatalf("X-Cache = %q, want MISS for every coalesced requester", x)
		}
	}
	if h := o.Hits("/events/1"); h != 1 {
		t.Fatalf("origin requests = %d, want 1", h)
	}
	if c := e.proxy.Stats().Coalesced; c != n-1 {
		t.Fatalf("coalesced = %d, want %d", c, n-1)
	}
	r := get(t, e.URL+"/events/1")
	if r.Header.Get("X-Cache") != "HIT" || o.Hits("/events/1") != 1 {
		t.Fatalf("follow-up: X-Cache %q, origin hits %d", r.Header.Get("X-Cache"), o.Hits("/events/1"))
	}
}

// A stored page is served from memory and disk with validators, encodings
// and ranges, and the tag headers never leave edge.
func TestHitPathHeaders(t *testing.T) {
	o := startOrigin(t, page)
	e := startEdge(t, o.URL, nil)
	first := get(t, e.URL+"/events/2")
	if first.Header.Get("X-Cache") != "MISS" || first.Header.Get("Cache-Status") == "" {
		t.Fatalf("first: %v", first.Header)
	}
	if first.Header.Get("Surrogate-Key") != "" {
		t.Fatal("Surrogate-Key leaked to the client")
	}
	if _, err := os.Stat(filepath.Join(e.Root, "events", "2", "index.html")); err != nil {
		t.Fatalf("page not on disk at events/2/index.html: %v", err)
	}
	hit := get(t, e.URL+"/events/2")
	if hit.Header.Get("X-Cache") != "HIT" || hit.Body != first.Body || hit.Header.Get("Age") == "" {
		t.Fatalf("hit: %v", hit.Header)
	}
	etag := hit.Header.Get("ETag")
	if nm := get(t, e.URL+"/events/2", "If-None-Match", etag); nm.Status != 304 || nm.Body != "" {
		t.Fatalf("If-None-Match: %d", nm.Status)
	}
	if nm := get(t, e.URL+"/events/2", "If-Modified-Since", hit.Header.Get("Last-Modified")); nm.Status != 304 {
		t.Fatalf("If-Modified-Since: %d", nm.Status)
	}
	gz := get(t, e.URL+"/events/2", "Accept-Encoding", "gzip, deflate")
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("Vary") != "Accept-Encoding" || gz.Header.Get("ETag") == etag {
		t.Fatalf("gzip variant headers: %v", gz.Header)
	}
	zr, err := gzip.NewReader(strings.NewReader(gz.Body))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := io.ReadAll(zr); string(plain) != first.Body {
		t.Fatal("gzip variant does not decode to the page")
	}
	if br := get(t, e.URL+"/events/2", "Accept-Encoding", "gzip, br"); br.Header.Get("Content-Encoding") != "br" {
		t.Fatalf("brotli not chosen: %v", br.Header)
	}
	if id := get(t, e.URL+"/events/2", "Accept-Encoding", "br;q=0, gzip;q=0"); id.Header.Get("Content-Encoding") != "" {
		t.Fatal("q=0 codings must not be used")
	}
	rg := get(t, e.URL+"/events/2", "Range", "bytes=0-9")
	if rg.Status != 206 || rg.Body != first.Body[:10] || rg.Header.Get("Content-Range") == "" {
		t.Fatalf("range: %d %q %v", rg.Status, rg.Body, rg.Header)
	}
	if bad := get(t, e.URL+"/events/2", "Range", "bytes=999999-"); bad.Status != 416 {
		t.Fatalf("unsatisfiable range: %d", bad.Status)
	}
	head, err := do("HEAD", e.URL+"/events/2")
	if err != nil || head.Status != 200 || head.Body != "" || head.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("HEAD: %v %v", head, err)
	}
	if o.Hits("/events/2") != 1 {
		t.Fatalf("origin hits = %d, want 1", o.Hits("/events/2"))
	}
}

// Requests with a session cookie or Authorization go to the origin every
// time and nothing of them is stored.
func TestPrivateRequestsBypass(t *testing.T) {
	o := startOrigin(t, page)
	e := startEdge(t, o.URL, nil)
	cases := []struct {
		uri string
		hdr []string
	}{
		{"/me/cookie", []string{"Cookie", "csrftoken=a; sessionid=abc"}},
		{"/me/auth", []string{"Authorization", "Basic dTpw"}},
	}
	for _, c := range cases {
		for i := 1; i <= 3; i++ {
			r := get(t, e.URL+c.uri, c.hdr...)
			if r.Status != 200 || r.Header.Get("X-Cache") != "BYPASS" {
				t.Fatalf("%s: %d X-Cache %q", c.uri, r.Status, r.Header.Get("X-Cache"))
			}
			if o.Hits(c.uri) != i {
				t.Fatalf("%s: origin hits %d after %d requests", c.uri, o.Hits(c.uri), i)
			}
		}
		if got := o.Header(c.uri).Get(c.hdr[0]); got != c.hdr[1] {
			t.Fatalf("%s: origin did not receive %s (got %q)", c.uri, c.hdr[0], got)
		}
		if _, err := e.store.Get(c.uri); err == nil {
			t.Fatalf("%s was stored", c.uri)
		}
	}
	// The same URL without credentials is an ordinary miss, then a hit.
	if r := get(t, e.URL+"/me/cookie", "Cookie", "csrftoken=a"); r.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("anonymous: %q", r.Header.Get("X-Cache"))
	}
	if st := e.store.Stats(); st.Pages != 1 {
		t.Fatalf("pages stored = %d, want 1", st.Pages)
	}
}

// Each kind of response that must not be stored is passed through and
// never reaches the disk; 404 is remembered in memory only.
func TestNonStorableResponses(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/html")
		ctx.SetBodyString("body of " + string(ctx.Path()))
		h := &ctx.Response.Header
		switch string(ctx.Path()) {
		case "/set-cookie":
			h.Set("Set-Cookie", "sessionid=x; Path=/")
		case "/private":
			h.Set("Cache-Control", "private, max-age=60")
		case "/no-store":
			h.Set("Cache-Control", "no-store")
		case "/no-cache":
			h.Set("Cache-Control", "max-age=0, no-cache")
		case "/vary-star":
			h.Set("Vary", "*")
		case "/vary-lang":
			h.Set("Vary", "Accept-Language")
		case "/error":
			ctx.SetStatusCode(500)
		case "/found":
			ctx.Redirect("/elsewhere", 302)
		case "/large":
			ctx.SetBody(bytes.Repeat([]byte("x"), 4096))
		case "/missing":
			ctx.SetStatusCode(404)
		}
	})
	e := startEdge(t, o.URL, func(c *Config) { c.Store.MaxObjectBytes = 1024 })
	for _, p := range []string{"/set-cookie", "/private", "/no-store", "/no-cache", "/vary-star", "/vary-lang", "/error", "/found", "/large"} {
		for i := 1; i <= 2; i++ {
			r := get(t, e.URL+p)
			if r.Header.Get("X-Cache") == "HIT" {
				t.Fatalf("%s served as a HIT", p)
			}
			if o.Hits(p) != i {
				t.Fatalf("%s: origin hits %d after %d requests", p, o.Hits(p), i)
			}
		}
		if _, err := e.store.Get(p); err == nil {
			t.Fatalf("%s stored", p)
		}
	}
	if r := get(t, e.URL+"/set-cookie"); !strings.Contains(r.Header.Get("Set-Cookie"), "sessionid=x") {
		t.Fatal("Set-Cookie not passed to the requester")
	}
	for i := 0; i < 3; i++ {
		if r := get(t, e.URL+"/missing"); r.Status != 404 {
			t.Fatalf("missing: %d", r.Status)
		}
		e.memory.Wait()
	}
	if o.Hits("/missing") != 1 {
		t.Fatalf("404 not remembered: origin hits %d", o.Hits("/missing"))
	}
	if _, err := e.store.Get("/missing"); err == nil {
		t.Fatal("404 stored on disk")
	}
	if n := countFiles(t, e.Root, "index.html"); n != 0 {
		t.Fatalf("%d page files on disk, want 0", n)
	}
}

// A truncated origin body is a 502 and stores nothing.
func TestIncompleteResponseNotStored(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\nonly a little")
		})
	})
	e := startEdge(t, o.URL, nil)
	r := get(t, e.URL+"/truncated")
	if r.Status != 502 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("truncated: %d %v", r.Status, r.Header)
	}
	if _, err := e.store.Get("/truncated"); err == nil {
		t.Fatal("truncated page stored")
	}
}

// With the origin stopped, a stored page that is stale is still served,
// and a page never stored is a 502 with Retry-After.
func TestStaleServedWhenOriginDown(t *testing.T) {
	o := startOrigin(t, page)
	e := startEdge(t, o.URL, nil)
	fresh := get(t, e.URL+"/events/3")
	if _, err := e.store.SetStale([]string{"/events/3"}, true); err != nil {
		t.Fatal(err)
	}
	e.memory.Delete("/events/3")
	e.memory.Wait()
	o.stop()
	r := get(t, e.URL+"/events/3")
	if r.Status != 200 || r.Header.Get("X-Cache") != "STALE" || r.Body != fresh.Body {
		t.Fatalf("stale: %d %q", r.Status, r.Header.Get("X-Cache"))
	}
	e.proxy.Wait() // the background refresh failed and kept the page
	if _, err := e.store.Get("/events/3"); err != nil {
		t.Fatalf("stale page lost after failed refresh: %v", err)
	}
	miss := get(t, e.URL+"/events/4")
	if miss.Status != 502 || miss.Header.Get("Retry-After") == "" || miss.Header.Get("X-Cache") != "" && miss.Header.Get("X-Cache") == "HIT" {
		t.Fatalf("never stored, origin down: %d %v", miss.Status, miss.Header)
	}
}

// An origin slower than the first-byte timeout gives a 504, stores nothing.
func TestOriginTimeout(t *testing.T) {
	block := make(chan struct{})
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) { <-block })
	t.Cleanup(func() { close(block) }) // runs before the origin's own cleanup
	e := startEdge(t, o.URL, func(c *Config) { c.Origin.FirstByteTimeout = 200 * time.Millisecond })
	r := get(t, e.URL+"/slow")
	if r.Status != 504 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d", r.Status)
	}
	if _, err := e.store.Get("/slow"); err == nil {
		t.Fatal("stored")
	}
}

// Hostile paths get a 400 (or 404), reach neither the origin nor any file
// outside the store root.
func TestTraversalRejected(t *testing.T) {
	o := startOrigin(t, page)
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	e := startEdge(t, o.URL, func(c *Config) { c.Store.Root = root })
	before := listDir(t, parent)
	addr := e.PublicListener.Addr().String()
	for _, p := range []string{
		"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd",
		"/..%5c..%5cetc/passwd", `/..\..\etc\passwd`, "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
		"/%e0%80%ae%e0%80%ae/etc/passwd", "/foo%00.html", "/foo%0d%0aX:1", "/.", "/..",
		"/" + strings.Repeat("a", 300), "/" + strings.Repeat("a/", 2500),
		"/a/./b", "/a/../b", "/%2e", "/x%2fy",
	} {
		code := raw(t, addr, "GET "+p+" HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
		if code != 400 && code != 404 && code != 414 && code != 431 {
			t.Errorf("%.60q: status %d, want 400/404/414/431", p, code)
		}
	}
	// Double encoding stays literal: a harmless, ordinary page name.
	if code := raw(t, addr, "GET /%252e%252e/%252e%252e/etc/passwd HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); code != 200 {
		t.Errorf("double-encoded: %d, want 200 (a literal name)", code)
	}
	o.mu.Lock()
	for uri := range o.hits {
		if !strings.HasPrefix(uri, "/%252e%252e") {
			t.Errorf("origin received %q", uri)
		}
	}
	o.mu.Unlock()
	if after := listDir(t, parent); after != before {
		t.Fatalf("files changed outside the root:\nbefore %s\nafter  %s", before, after)
	}
}

// A page replaced on disk by another process is served anew within a
// second, without a restart.
func TestOutsideReplaceSeenWithinASecond(t *testing.T) {
	o := startOrigin(t, page)
	e := startEdge(t, o.URL, nil)
	get(t, e.URL+"/events/5")
	if r := get(t, e.URL+"/events/5"); r.Header.Get("X-Cache") != "HIT" {
		t.Fatal("not a hit")
	}
	// Another process (edge gen, rsync) writes a new version: body and
	// sidecar, each by rename as such tools do.
	dir := filepath.Join(e.Root, "events", "5")
	p := &edge.Page{Key: "/events/5", Status: 200, ContentType: "text/html", Body: []byte("<h1>replaced</h1>"),
		ETag: `"replaced"`, GeneratedAt: time.Now()}
	writeOutside(t, dir, p)
	start := time.Now()
	eventually(t, 2*time.Second, "replaced page served", func() bool {
		return get(t, e.URL+"/events/5").Body == "<h1>replaced</h1>"
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("replacement seen after %s, want within 1s", d)
	}
	if o.Hits("/events/5") != 1 {
		t.Fatalf("origin asked again: %d", o.Hits("/events/5"))
	}
}

func countFiles(t *testing.T, root, name string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == name {
			n++
		}
		return nil
	})
	return n
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if rel, _ := filepath.Rel(dir, path); !strings.HasPrefix(rel, "root") {
			b.WriteString(rel + " ")
		}
		return nil
	})
	return b.String()
}

// writeOutside writes a page the way another process would (an rsync or a
// separate generator): the body and its JSON sidecar, each through a temp
// file and a rename in the page's directory.
func writeOutside(t *testing.T, dir string, p *edge.Page) {
	t.Helper()
	side := fmt.Sprintf(`{"key":%q,"status":%d,"content_type":%q,"etag":%q,"generated_at":%q,"sizes":{"identity":%d}}`,
		p.Key, p.Status, p.ContentType, p.ETag, p.GeneratedAt.UTC().Format(time.RFC3339Nano), len(p.Body))
	for _, f := range []struct {
		name string
		data []byte
	}{{"index.html", p.Body}, {"index.html.meta", []byte(side)}} {
		tmp := filepath.Join(dir, ".rsync-tmp-"+f.name)
		if err := os.WriteFile(tmp, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"index.html.gz", "index.html.br"} {
		_ = os.Remove(filepath.Join(dir, v))
	}
}
