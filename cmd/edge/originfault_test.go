package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pregen/edge/internal/testenv"
)

// stored reports whether anything of key reached the disk or memory tier.
func (e *testEdge) stored(key string) bool {
	if _, err := e.store.Get(key); err == nil {
		return true
	}
	if p, ok := e.memory.Get([]byte(key)); ok && p.Status != 0 {
		return true
	}
	return false
}

// Malformed framing from the origin is a 502: nothing stored (disk,
// memory, temp files), and the next request tries the origin again
// (checklist 35, 50).
func TestOriginFramingErrors(t *testing.T) {
	o := testenv.StartOrigin(t, testenv.Pages)
	e := startEdge(t, o.URL, nil)
	for _, name := range testenv.Framing() {
		o.SetHandler(testenv.CloseAfter(testenv.BadFraming[name]))
		uri := "/framing/" + name
		for i := 1; i <= 2; i++ {
			r := get(t, e.URL+uri)
			if r.Status != 502 {
				t.Errorf("%s: status %d (%.60q), want 502", name, r.Status, r.Body)
				break
			}
		}
		if e.stored(uri) {
			t.Errorf("%s: stored", name)
		}
		if n := o.Count(uri); n < 2 {
			t.Errorf("%s: the second request did not go to the origin (%d requests)", name, n)
		}
	}
	if n := tempFiles(t, e.Root); n != 0 {
		t.Errorf("%d temp files left", n)
	}
}

// Truncated or reset responses are 502s that store nothing (checklist 50);
// a response cut after its first bytes is not retried (52); an origin that
// resets every connection costs at most two attempts per request (47).
func TestOriginTruncatedAndReset(t *testing.T) {
	o := testenv.StartOrigin(t, testenv.Pages)
	e := startEdge(t, o.URL, nil)
	page := testenv.Page("/x") // 200 with Content-Length
	chunked := "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
	cases := []struct {
		name     string
		h        testenv.Handler
		attempts int // most origin requests one client request may cause
	}{
		{"content-length short", testenv.Truncated(page, len(page)-5), 1},
		{"chunked without last chunk", testenv.Truncated(chunked, len(chunked)), 1},
		{"reset mid-body", testenv.ResetAfter(page, len(page)/2), 1},
		{"status line then close", testenv.Truncated(page, len("HTTP/1.1 200 OK\r\n")), 1},
		{"reset before any byte", testenv.ResetAfter(page, 0), 2},
	}
	for _, c := range cases {
		o.SetHandler(c.h)
		uri := "/cut/" + strings.ReplaceAll(c.name, " ", "-")
		r := get(t, e.URL+uri)
		if r.Status != 502 || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d, want 502 with Retry-After", c.name, r.Status)
		}
		if e.stored(uri) {
			t.Errorf("%s: stored", c.name)
		}
		if n := o.Count(uri); n < 1 || n > c.attempts {
			t.Errorf("%s: %d origin requests, want 1..%d", c.name, n, c.attempts)
		}
	}
	if n := tempFiles(t, e.Root); n != 0 {
		t.Errorf("%d temp files left", n)
	}
}

// An origin slower than the first-byte timeout: every collapsed waiter
// gets the same 504, at once, and nothing is stored (checklist 49).
func TestOriginSlowFirstByteCollapsed(t *testing.T) {
	release := make(chan struct{})
	o := testenv.StartOrigin(t, func(c *testenv.Conn, r *testenv.Request) bool {
		c.Hold(release)
		return false
	})
	t.Cleanup(func() { close(release) })
	e := startEdge(t, o.URL, func(c *Config) { c.Origin.FirstByteTimeout = 300 * time.Millisecond })
	const n = 8
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for range n {
		wg.Go(func() {
			r, err := do("GET", e.URL+"/slow")
			if err != nil {
				t.Error(err)
			}
			codes <- r.Status
		})
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 504 {
			t.Errorf("status %d, want 504", c)
		}
	}
	if got := o.Count("/slow"); got > 2 {
		t.Errorf("%d origin requests for %d collapsed clients", got, n)
	}
	if e.stored("/slow") {
		t.Fatal("stored")
	}
}

// An origin that closes idle keep-alive connections (gunicorn, 2 s):
// sparse traffic never sees a 502, thanks to one retry on a reused
// connection that died before any byte (checklist 51).
func TestOriginClosesKeepAlive(t *testing.T) {
	o := testenv.StartOrigin(t, func(c *testenv.Conn, r *testenv.Request) bool {
		c.Write(strings.Replace(testenv.Page(r.URI), "\r\n", "\r\nConnection: keep-alive\r\n", 1))
		return false // closed right after, as if the keep-alive timer fired
	})
	e := startEdge(t, o.URL, nil)
	for i := range 10 {
		if r := get(t, e.URL+"/ka/"+itoa(i)); r.Status != 200 {
			t.Fatalf("request %d: %d", i, r.Status)
		}
	}
}

// The origin refuses connections: a page never stored is a 502 with
// Retry-After, stored nowhere; a stored page is served stale (checklist 48;
// TestStaleServedWhenOriginDown covers the stale half).
func TestOriginRefused(t *testing.T) {
	o := testenv.StartOrigin(t, testenv.Pages)
	e := startEdge(t, o.URL, nil)
	o.Close()
	r := get(t, e.URL+"/refused")
	if r.Status != 502 || r.Header.Get("Retry-After") == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refused: %d %v", r.Status, r.Header)
	}
	if e.stored("/refused") {
		t.Fatal("stored")
	}
}
