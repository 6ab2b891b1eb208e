package proxy

import (
	"bufio"
	"errors"
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

// fakeFiles is a FileStore over a fakeStore: the chosen representation is
// written to a file in a temp dir and returned open. It keeps every file
// it handed out, so tests can check each was closed.
type fakeFiles struct {
	store *fakeStore
	dir   string

	mu     sync.Mutex // protects opened
	opened []*os.File
}

func (f *fakeFiles) OpenVariant(key string, br, gz bool) (edge.File, error) {
	p, err := f.store.Get(key)
	if err != nil {
		return edge.File{}, err
	}
	enc := edge.Identity
	switch {
	case br && p.Brotli != nil:
		enc = edge.Brotli
	case gz && p.Gzip != nil:
		enc = edge.Gzip
	}
	body, _, _ := p.Variant(enc)
	f.mu.Lock()
	defer f.mu.Unlock()
	name := filepath.Join(f.dir, fmt.Sprint(len(f.opened)))
	if err := os.WriteFile(name, body, 0o644); err != nil {
		return edge.File{}, err
	}
	fh, err := os.Open(name)
	if err != nil {
		return edge.File{}, err
	}
	f.opened = append(f.opened, fh)
	meta := &edge.Page{Key: p.Key, Status: p.Status, ContentType: p.ContentType, Header: p.Header,
		ETag: p.ETag, GeneratedAt: p.GeneratedAt, Tags: p.Tags, Stale: p.Stale}
	return edge.File{Page: meta.Finish(), Encoding: enc, Body: fh, Size: int64(len(body))}, nil
}

// open reports how many files were handed out and how many of them are
// still open.
func (f *fakeFiles) open() (handed, open int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fh := range f.opened {
		// Closing a closed *os.File fails with os.ErrClosed; this closes
		// the ones left open, so call it once, at the end of a test.
		if err := fh.Close(); !errors.Is(err, os.ErrClosed) {
			open++
		}
	}
	return len(f.opened), open
}

func withFiles(t *testing.T, h *harness) *fakeFiles {
	f := &fakeFiles{store: h.store, dir: t.TempDir()}
	h.s.Files = f
	return f
}

// A disk hit that is not promoted is sent from the open file: the same
// answer as a read one, with Range requests still read (never a file),
// and every file closed once the response is done with it — written, a
// 304, or a HEAD whose response is dropped.
func TestFileHitServesTheNegotiatedRepresentation(t *testing.T) {
	for _, c := range []struct {
		method       string
		header       []string
		body, ce     string
		status       int
		contentRange string
		opens        int
	}{
		{"", []string{"Accept-Encoding: gzip, br"}, "br(disk page)", "br", 200, "", 1},
		{"", []string{"Accept-Encoding: gzip"}, "gz(disk page)", "gzip", 200, "", 1},
		{"", nil, "disk page", "", 200, "", 1},
		{"", []string{"Accept-Encoding: br", "Range: bytes=0-3"}, "disk", "", 206, "bytes 0-3/9", 0},
		{"", []string{"Accept-Encoding: br", `If-None-Match: "_d-v1-br"`}, "", "", 304, "", 1},
		{"HEAD", []string{"Accept-Encoding: gzip"}, "", "gzip", 200, "", 1},
	} {
		h := newHarness(t, nil)
		files := withFiles(t, h)
		h.store.put(newPage("/d", "disk page"))
		ctx := h.serve(request{method: c.method, uri: "/d", header: c.header})
		resp := &ctx.Response
		if c.method == "HEAD" {
			// fasthttp sends the length of the body it was given (which it
			// does not send): a stream's declared size, or the bytes set.
			n := len(resp.Body())
			if resp.IsBodyStream() {
				n = resp.Header.ContentLength()
			}
			if n != len("gz(disk page)") {
				t.Errorf("HEAD: length %d", n)
			}
			resp.SkipBody = true
		}
		if resp.StatusCode() != c.status || respHeader(ctx, "Content-Encoding") != c.ce ||
			respHeader(ctx, "Content-Range") != c.contentRange || respHeader(ctx, "X-Cache") != "HIT" {
			t.Errorf("%s %q: got %d Content-Encoding %q Content-Range %q X-Cache %q", c.method, c.header, resp.StatusCode(),
				respHeader(ctx, "Content-Encoding"), respHeader(ctx, "Content-Range"), respHeader(ctx, "X-Cache"))
		}
		got := ""
		if !resp.SkipBody {
			got = string(resp.Body()) // reads the stream, as writing it would, and closes it
		}
		if got != c.body {
			t.Errorf("%s %q: body %q, want %q", c.method, c.header, got, c.body)
		}
		resp.Reset() // what fasthttp does after every response
		handed, open := files.open()
		if handed != c.opens || open != 0 {
			t.Errorf("%s %q: %d files opened (want %d), %d left open", c.method, c.header, handed, c.opens, open)
		}
	}
}

// The same checks on the status and headers as a read disk hit, over the
// rows above that reach them.
func TestFileHitHeaders(t *testing.T) {
	h := newHarness(t, nil)
	files := withFiles(t, h)
	h.store.put(newPage("/d", "disk page"))
	ctx := h.get("/d", "Accept-Encoding: br")
	if ctx.Response.StatusCode() != 200 || respHeader(ctx, "Content-Encoding") != "br" ||
		respHeader(ctx, "ETag") != `"_d-v1-br"` || respHeader(ctx, "X-Cache") != "HIT" ||
		respHeader(ctx, "Content-Language") != "en" || respHeader(ctx, "Last-Modified") == "" {
		t.Errorf("headers:\n%s", ctx.Response.Header.String())
	}
	ctx.Response.Reset()
	if _, open := files.open(); open != 0 {
		t.Errorf("%d files left open", open)
	}
}

// Over a real loopback connection (edge's own listener, so files go out
// with sendfile after their headers), every size of body arrives
// whole and in order, on one keep-alive connection, for GET and HEAD: no
// response is held back waiting for a write that never comes (the read
// deadline bounds the test, it is not a timing threshold).
func TestFileResponsesOverTCP(t *testing.T) {
	h := newHarness(t, nil)
	files := withFiles(t, h)
	sizes := []int{1, 100, smallFile - 40, smallFile, smallFile + 1, 64 << 10, 1 << 20}
	for _, n := range sizes {
		p := newPage(fmt.Sprintf("/s/%d", n), strings.Repeat(string(rune('a'+n%26)), n))
		p.Gzip, p.Brotli = nil, nil
		h.store.put(p)
	}
	addr := h.tcpServer(t, Limits{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, method := range []string{"GET", "HEAD", "GET"} {
		for _, n := range sizes {
			if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "%s /s/%d HTTP/1.1\r\nHost: example.com\r\n\r\n", method, n)
			var resp fasthttp.Response
			resp.SkipBody = method == "HEAD"
			if err := resp.Read(br); err != nil {
				t.Fatalf("%s %d bytes: %v", method, n, err)
			}
			if resp.StatusCode() != 200 || resp.Header.ContentLength() != n {
				t.Fatalf("%s %d bytes: status %d, Content-Length %d", method, n, resp.StatusCode(), resp.Header.ContentLength())
			}
			if method == "GET" && string(resp.Body()) != strings.Repeat(string(rune('a'+n%26)), n) {
				t.Fatalf("GET %d bytes: body of %d bytes differs", n, len(resp.Body()))
			}
		}
	}
	c.Close()
	waitFor(t, "every file closed", func() bool {
		files.mu.Lock()
		defer files.mu.Unlock()
		for _, fh := range files.opened {
			if _, err := fh.Stat(); !errors.Is(err, os.ErrClosed) {
				return false
			}
		}
		return true
	})
}

// A client holding MaxConnsPerIP connections gets a 429 and a closed
// connection for one more; a slot comes back when one of its connections
// closes.
func TestConnectionCapPerAddress(t *testing.T) {
	h := newHarness(t, nil)
	h.store.put(newPage("/ok", "fine"))
	addr := h.tcpServer(t, Limits{MaxConnsPerIP: 2})
	get := func(c net.Conn) (int, error) {
		if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return 0, err
		}
		if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
			return 0, err
		}
		var resp fasthttp.Response
		err := resp.Read(bufio.NewReader(c))
		return resp.StatusCode(), err
	}
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if st, err := get(c); st != 200 || err != nil {
			t.Fatalf("connection within the cap: %d %v", st, err)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var resp fasthttp.Response
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := resp.Read(bufio.NewReader(c)); err != nil || resp.StatusCode() != 429 || !resp.ConnectionClose() {
		t.Fatalf("connection over the cap: %d close=%v %v", resp.StatusCode(), resp.ConnectionClose(), err)
	}
	if st := h.s.Stats(); st.Errors4xx != 1 {
		t.Errorf("Errors4xx = %d, want 1", st.Errors4xx)
	}
	held[0].Close()
	waitFor(t, "a slot given back", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		st, err := get(c)
		return st == 200 && err == nil
	})
}

// A page Files does not have is still looked up in Store (the S3 tier
// behind the local disk) before it counts as a miss.
func TestFileMissFallsBackToStore(t *testing.T) {
	h := newHarness(t, nil)
	files := &fakeFiles{store: newFakeStore(), dir: t.TempDir()} // holds nothing
	h.s.Files = files
	h.store.put(newPage("/far", "far page"))
	ctx := h.get("/far")
	if string(ctx.Response.Body()) != "far page" || respHeader(ctx, "X-Cache") != "HIT" {
		t.Errorf("got %q X-Cache %q", ctx.Response.Body(), respHeader(ctx, "X-Cache"))
	}
	if n := h.gen.n.Load(); n != 0 {
		t.Errorf("%d generations for a page Store has", n)
	}
}

// The public server hands fasthttp the accepted connection itself, a
// *net.TCPConn, even with a per-address cap: fasthttp writes a memory hit
// with one writev, and sends a file with sendfile, only to that type. (A
// cap kept by wrapping the connection, as fasthttp's MaxConnsPerIP does,
// cost both.)
func TestPublicServerKeepsTheTCPConn(t *testing.T) {
	h := newHarness(t, nil)
	srv := h.s.HTTPServer(Limits{MaxConnsPerIP: 8})
	conns := make(chan net.Conn, 1)
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		select {
		case conns <- ctx.Conn():
		default:
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		if err := srv.Shutdown(); err != nil {
			t.Error(err)
		}
		<-done
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-conns:
		if _, ok := got.(*net.TCPConn); !ok {
			t.Errorf("the handler's connection is a %T, want *net.TCPConn", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the handler")
	}
}
