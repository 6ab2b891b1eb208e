package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// testOrigin is a real fasthttp origin on 127.0.0.1 that counts requests
// per path and delegates to a programmable handler.
type testOrigin struct {
	URL string
	ln  net.Listener
	srv *fasthttp.Server

	mu     sync.Mutex
	hits   map[string]int
	heads  map[string]http.Header // last request headers seen per path
	notify chan string            // receives each path as it arrives (buffered; drops when full)
}

func startOrigin(t *testing.T, h fasthttp.RequestHandler) *testOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &testOrigin{URL: "http://" + ln.Addr().String(), ln: ln, hits: map[string]int{},
		heads: map[string]http.Header{}, notify: make(chan string, 4096)}
	o.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		hd := http.Header{}
		for k, v := range ctx.Request.Header.All() {
			hd.Add(string(k), string(v))
		}
		o.mu.Lock()
		o.hits[string(ctx.RequestURI())]++
		o.heads[p] = hd
		o.mu.Unlock()
		select {
		case o.notify <- p:
		default:
		}
		h(ctx)
	}, ReadTimeout: 30 * time.Second, CloseOnShutdown: true}
	go o.srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(o.stop)
	return o
}

// Hits returns how many requests the origin received for a request URI.
func (o *testOrigin) Hits(uri string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[uri]
}

// Header returns the headers of the last request for a path.
func (o *testOrigin) Header(path string) http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.heads[path]
}

func (o *testOrigin) stop() { _ = o.srv.Shutdown() }

// testEdge is a real edge (the same wiring as `edge serve`) on 127.0.0.1.
type testEdge struct {
	*Main
	URL, Admin string
	Root       string
	done       chan error
	cancel     context.CancelFunc
}

// startEdge runs edge against origin with the defaults plus mod.
func startEdge(t *testing.T, originURL string, mod func(*Config)) *testEdge {
	t.Helper()
	return startEdgeMain(t, originURL, mod, nil)
}

// startEdgeMain is startEdge with a hook on the Main before it runs (its
// test seams).
func startEdgeMain(t *testing.T, originURL string, mod func(*Config), mm func(*Main)) *testEdge {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Origin.URL = originURL
	cfg.Store.Root = t.TempDir()
	cfg.Store.NoSync = true
	cfg.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Log.Level = "warn"
	// Listen first so the single allowed host (and so hostless keys such
	// as "/events/1") can name the real port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Hosts = []string{ln.Addr().String()}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate("test", nil); err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, PublicListener: ln}
	if mm != nil {
		mm(m)
	}
	return runEdge(t, m)
}

func runEdge(t *testing.T, m *Main) *testEdge {
	t.Helper()
	m.Ready = make(chan struct{})
	if m.LogOutput == nil {
		m.LogOutput = testLog{t}
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &testEdge{Main: m, Root: m.Config.Store.Root, done: make(chan error, 1), cancel: cancel}
	go func() { e.done <- m.Run(ctx) }()
	select {
	case <-m.Ready:
	case err := <-e.done:
		cancel()
		t.Fatalf("edge did not start: %v", err)
	}
	e.URL = "http://" + m.PublicListener.Addr().String()
	e.Admin = "http://" + m.AdminListener.Addr().String()
	t.Cleanup(func() { e.stop(t) })
	return e
}

// stop cancels edge and checks it shut down cleanly; idempotent.
func (e *testEdge) stop(t *testing.T) {
	t.Helper()
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("edge Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("edge did not shut down within 15s")
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client is a plain net/http client (an implementation independent of
// fasthttp) with generous connection limits and no transparent gzip.
var client = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport: &http.Transport{
		MaxIdleConnsPerHost: 1000, MaxConnsPerHost: 1000, DisableCompression: true,
	},
}

type response struct {
	Status int
	Header http.Header
	Body   string
}

func get(t *testing.T, url string, hdr ...string) response {
	t.Helper()
	r, err := do(http.MethodGet, url, hdr...)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

func do(method, url string, hdr ...string) (response, error) {
	return doBody(method, url, nil, hdr...)
}

// doBody sends one request with body (nil for none); hdr is name, value
// pairs ("Host" sets the request's host).
func doBody(method, url string, body io.Reader, hdr ...string) (response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}, err
}

// raw sends bytes exactly as given on a new connection and returns the
// status line's code (0 if the connection closed without an answer).
func raw(t *testing.T, addr, request string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0
		}
		t.Fatalf("reading answer to %q: %v", request, err)
	}
	var proto string
	var code int
	if _, err := fmt.Sscanf(line, "%s %d", &proto, &code); err != nil {
		t.Fatalf("bad status line %q", line)
	}
	return code
}

// eventually polls cond until it holds or the limit passes (for effects
// that arrive through the file system, which has no channel to wait on).
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// page is a simple origin handler: a 16 KB-ish HTML page naming its path.
func page(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Surrogate-Key", "page "+strings.Trim(string(ctx.Path()), "/"))
	ctx.SetBodyString("<html><body><h1>" + string(ctx.Path()) + "</h1>" + strings.Repeat("<p>lorem ipsum dolor sit amet</p>\n", 500) + "</body></html>")
}
