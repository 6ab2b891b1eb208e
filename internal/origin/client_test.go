package origin

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

func TestNewConfig(t *testing.T) {
	for _, bad := range []string{
		"", "127.0.0.1:80", "ftp://x", "http://", "http://x/prefix", "http://u:p@x",
		"http://x?q=1", "http://x#f", "http://[::1",
	} {
		if _, err := New(Config{URL: bad}); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	if _, err := New(Config{URL: "http://x", Timeout: -1}); err == nil {
		t.Error("negative Timeout accepted")
	}
	for url, host := range map[string]string{
		"http://origin":        "origin:80",
		"https://origin/":      "origin:443",
		"http://10.0.0.1:8000": "10.0.0.1:8000",
		"http://[::1]:9":       "[::1]:9",
	} {
		c, err := New(Config{URL: url})
		if err != nil {
			t.Fatalf("New(%q): %v", url, err)
		}
		if c.Host() != host {
			t.Errorf("New(%q).Host() = %q, want %q", url, c.Host(), host)
		}
		if c.Budget() == nil || c.Budget().Slots() != DefaultMaxConns {
			t.Errorf("default budget: %+v", c.Budget())
		}
	}
}

func TestHopByHopStrippedBothWays(t *testing.T) {
	heads := make(chan string, 1)
	o := startRaw(t, func(o *rawOrigin, c *rawConn) {
		head, ok := c.readRequest()
		if !ok {
			return
		}
		heads <- string(head)
		c.write("HTTP/1.1 200 OK\r\n" +
			"Connection: keep-alive, X-Secret\r\n" +
			"connection: x-other\r\n" +
			"X-Secret: s\r\nX-Other: o\r\n" +
			"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nProxy-Connection: keep-alive\r\n" +
			"Upgrade: h2c\r\nTrailer: X-Tr\r\nTE: trailers\r\nX-Stay: 1\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		c.wait()
	})
	cl := newTestClient(t, o.url(), Config{})
	req, resp := get("/p")
	req.Header.Set("Connection", "keep-alive, X-Foo,x-bar")
	req.Header.Set("X-Foo", "1")
	req.Header.Set("X-Bar", "2")
	req.Header.Set("Keep-Alive", "300")
	req.Header.Set("TE", "trailers")
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("X-Keep", "yes")

	if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); err != nil {
		t.Fatal(err)
	}
	head := strings.ToLower(<-heads)
	for _, h := range []string{"connection:", "x-foo:", "x-bar:", "keep-alive:", "te:", "proxy-", "upgrade:", "trailer:"} {
		if strings.Contains(head, "\n"+h) {
			t.Errorf("origin received %q:\n%s", h, head)
		}
	}
	if !strings.Contains(head, "\nx-keep: yes") {
		t.Errorf("end-to-end header lost:\n%s", head)
	}

	got := strings.ToLower(resp.Header.String())
	for _, h := range []string{"connection:", "x-secret:", "x-other:", "keep-alive:", "proxy-", "upgrade:", "trailer:", "te:", "transfer-encoding:"} {
		if strings.Contains(got, "\n"+h) {
			t.Errorf("client received %q:\n%s", h, got)
		}
	}
	if string(resp.Header.Peek("X-Stay")) != "1" || string(resp.Body()) != "hello" || resp.Header.ContentLength() != 5 {
		t.Errorf("response mangled: %q body %q", got, resp.Body())
	}
}

func TestURIReachesOriginByteIdentical(t *testing.T) {
	lines := make(chan string, 1)
	o := startRaw(t, func(o *rawOrigin, c *rawConn) {
		for {
			head, ok := c.readRequest()
			if !ok {
				return
			}
			lines <- string(head[:strings.IndexByte(string(head), '\r')])
			if !c.write(okKeepAlive) {
				return
			}
		}
	})
	cl := newTestClient(t, o.url(), Config{})
	for _, uri := range []string{
		"/a//b/%2e",
		"/a/../b/./c",
		"/%2e%2e/%2F/x%20y",
		"/p?b=2&a=1&a=%41&&x",
		"/caf%C3%A9;param?q=%2f",
		"/",
	} {
		req, resp := get(uri)
		if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		if got, want := <-lines, "GET "+uri+" HTTP/1.1"; got != want {
			t.Errorf("origin got %q, want %q", got, want)
		}
	}
}

func TestForwardedHeadersReachOrigin(t *testing.T) {
	heads := make(chan string, 1)
	o := startRaw(t, func(o *rawOrigin, c *rawConn) {
		head, ok := c.readRequest()
		if ok {
			heads <- string(head)
			c.write(okKeepAlive)
		}
		c.wait()
	})
	cl := newTestClient(t, o.url(), Config{})
	req, resp := get("/")
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Original-URL", "/admin")
	req.Header.Set("Connection", "X-Forwarded-For")
	SetForwarded(&req.Header, "192.0.2.7", "https", "www.example.com")
	if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); err != nil {
		t.Fatal(err)
	}
	head := <-heads
	for _, want := range []string{"\nX-Forwarded-For: 192.0.2.7\r", "\nX-Forwarded-Proto: https\r", "\nX-Forwarded-Host: www.example.com\r"} {
		if strings.Count(head, want) != 1 {
			t.Errorf("want one %q in:\n%s", want, head)
		}
	}
	for _, bad := range []string{"6.6.6.6", "evil", "X-Original-URL"} {
		if strings.Contains(head, bad) {
			t.Errorf("origin received %q:\n%s", bad, head)
		}
	}
}

func TestFirstByteTimeout(t *testing.T) {
	o := startRaw(t, func(o *rawOrigin, c *rawConn) {
		c.readRequest()
		c.wait() // never answers
	})
	cl := newTestClient(t, o.url(), Config{FirstByteTimeout: 200 * time.Millisecond, Timeout: 20 * time.Second})
	req, resp := get("/slow")
	start := time.Now()
	err := cl.Do(context.Background(), edge.PriorityMiss, req, resp)
	if !errors.Is(err, edge.ErrOriginTimeout) || !strings.Contains(err.Error(), "no response byte within 200ms") {
		t.Fatalf("err = %v, want first-byte ErrOriginTimeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v: the total timeout fired, not the first-byte one", d)
	}
	if n := o.requests.Load(); n != 1 {
		t.Fatalf("origin saw %d requests, want 1 (a timeout is not retried)", n)
	}
}

func TestFirstByteDeadlineLiftedAfterFirstByte(t *testing.T) {
	const fb = 100 * time.Millisecond
	o := startRaw(t, func(o *rawOrigin, c *rawConn) {
		if _, ok := c.readRequest(); !ok {
			return
		}
		c.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
		select { // a body gap longer than the first-byte timeout
		case <-time.After(3 * fb):
		case <-c.o.done:
			return
		}
		c.write("cd")
		c.wait()
	})
	cl := newTestClient(t, o.url(), Config{FirstByteTimeout: fb, Timeout: 20 * time.Second})
	req, resp := get("/gap")
	if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); err != nil {
		t.Fatalf("slow body after the first byte failed: %v", err)
	}
	if string(resp.Body()) != "abcd" {
		t.Fatalf("body %q", resp.Body())
	}
}

func TestTotalAndContextTimeouts(t *testing.T) {
	o := startRaw(t, func(o *rawOrigin, c *rawConn) {
		if _, ok := c.readRequest(); ok {
			c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab") // then stalls
		}
		c.wait()
	})
	cl := newTestClient(t, o.url(), Config{Timeout: 200 * time.Millisecond})
	req, resp := get("/stall")
	err := cl.Do(context.Background(), edge.PriorityMiss, req, resp)
	if !errors.Is(err, edge.ErrOriginTimeout) || !strings.Contains(err.Error(), "not done within 200ms") {
		t.Fatalf("total timeout: err = %v", err)
	}

	cl = newTestClient(t, o.url(), Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, resp = get("/stall")
	err = cl.Do(ctx, edge.PriorityMiss, req, resp)
	if !errors.Is(err, edge.ErrOriginTimeout) || !strings.Contains(err.Error(), "context deadline") {
		t.Fatalf("ctx deadline: err = %v", err)
	}
	if cl.Budget().InUse() != 0 {
		t.Fatalf("InUse = %d", cl.Budget().InUse())
	}
}

func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl := newTestClient(t, "http://"+addr, Config{})
	req, resp := get("/")
	err = cl.Do(context.Background(), edge.PriorityMiss, req, resp)
	if !errors.Is(err, edge.ErrOriginUnavailable) {
		t.Fatalf("err = %v, want ErrOriginUnavailable", err)
	}
}

func TestBrokenResponsesAreUnavailable(t *testing.T) {
	for name, answer := range map[string]string{
		"truncated length":  "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
		"truncated chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n0123456789",
		"truncated header":  "HTTP/1.1 200 OK\r\nContent-Le",
		"malformed":         "garbage\r\n\r\n",
		"duplicate length":  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
	} {
		t.Run(name, func(t *testing.T) {
			o := startRaw(t, func(o *rawOrigin, c *rawConn) {
				if _, ok := c.readRequest(); ok {
					c.write(answer)
				}
			})
			cl := newTestClient(t, o.url(), Config{})
			req, resp := get("/")
			err := cl.Do(context.Background(), edge.PriorityMiss, req, resp)
			if !errors.Is(err, edge.ErrOriginUnavailable) {
				t.Fatalf("err = %v, want ErrOriginUnavailable", err)
			}
			if n := o.requests.Load(); n != 1 {
				t.Fatalf("origin saw %d requests, want 1", n)
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	big := strings.Repeat("x", 2048)
	url := startFast(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/chunked" {
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) { w.WriteString(big) })
			return
		}
		ctx.SetBodyString(big)
	})
	cl := newTestClient(t, url, Config{MaxResponseBytes: 1024})
	for _, path := range []string{"/length", "/chunked"} {
		req, resp := get(path)
		err := cl.Do(context.Background(), edge.PriorityMiss, req, resp)
		if !errors.Is(err, edge.ErrOriginUnavailable) || !errors.Is(err, fasthttp.ErrBodyTooLarge) {
			t.Fatalf("%s: err = %v, want ErrOriginUnavailable", path, err)
		}
	}
	cl = newTestClient(t, url, Config{MaxResponseBytes: 2048})
	req, resp := get("/length")
	if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); err != nil || len(resp.Body()) != 2048 {
		t.Fatalf("body at the limit: %v, %d bytes", err, len(resp.Body()))
	}
}

// keepAliveThenClose answers the first request on each connection with
// keep-alive and then, on the second request, runs second (closing after it).
// closed gets a value once a connection's first exchange is over and second
// has run.
func keepAliveThenClose(t *testing.T, second func(c *rawConn)) (*rawOrigin, <-chan struct{}) {
	closed := make(chan struct{}, 8)
	o := startRaw(t, func(o *rawOrigin, c *rawConn) {
		if _, ok := c.readRequest(); !ok || !c.write(okKeepAlive) {
			return
		}
		second(c)
		closed <- struct{}{}
	})
	return o, closed
}

func TestRetryOnceOnStaleKeepAlive(t *testing.T) {
	// The origin answers one request per connection, says keep-alive, and
	// closes: the pooled connection is stale when the next request comes.
	o, closed := keepAliveThenClose(t, func(c *rawConn) { c.Close() })
	cl := newTestClient(t, o.url(), Config{})
	ctx := context.Background()
	for i := range 2 {
		req, resp := get("/")
		if err := cl.Do(ctx, edge.PriorityMiss, req, resp); err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		<-closed
	}
	if a, r := o.accepted.Load(), o.requests.Load(); a != 2 || r != 2 {
		t.Fatalf("accepted %d, requests %d; want 2, 2", a, r)
	}

	// A POST on the stale connection is not retried.
	req, resp := get("/")
	req.Header.SetMethod("POST")
	req.SetBodyString("x")
	if err := cl.Do(ctx, edge.PriorityMiss, req, resp); !errors.Is(err, edge.ErrOriginUnavailable) {
		t.Fatalf("POST on stale connection: %v, want ErrOriginUnavailable", err)
	}
	if a := o.accepted.Load(); a != 2 {
		t.Fatalf("POST was retried: accepted %d", a)
	}
}

func TestRetryOnceWhenOriginClosesOnRequest(t *testing.T) {
	// The origin reads the second request on a connection and closes without
	// a byte (gunicorn's keep-alive race): exactly one retry.
	o, _ := keepAliveThenClose(t, func(c *rawConn) { c.readRequest() })
	cl := newTestClient(t, o.url(), Config{})
	for i := range 2 {
		req, resp := get("/")
		if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
	}
	if a, r := o.accepted.Load(), o.requests.Load(); a != 2 || r != 3 {
		t.Fatalf("accepted %d, requests %d; want 2 and 3 (one retry)", a, r)
	}
}

func TestNoRetryOnFreshConnection(t *testing.T) {
	o := startRaw(t, func(o *rawOrigin, c *rawConn) { c.readRequest() }) // close, no answer
	cl := newTestClient(t, o.url(), Config{})
	req, resp := get("/")
	if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); !errors.Is(err, edge.ErrOriginUnavailable) {
		t.Fatalf("err = %v, want ErrOriginUnavailable", err)
	}
	if n := o.requests.Load(); n != 1 {
		t.Fatalf("origin saw %d requests, want 1", n)
	}
}

func TestNoRetryAfterAResponseByte(t *testing.T) {
	for name, answer := range map[string]string{
		"headers then reset": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
		"interim then close": "HTTP/1.1 100 Continue\r\n\r\n",
		"partial status":     "HTTP/1.1 2",
	} {
		t.Run(name, func(t *testing.T) {
			o, _ := keepAliveThenClose(t, func(c *rawConn) {
				if _, ok := c.readRequest(); ok && c.write(answer) {
					c.reset()
				}
			})
			cl := newTestClient(t, o.url(), Config{})
			req, resp := get("/")
			if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); err != nil {
				t.Fatal(err)
			}
			req, resp = get("/")
			if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); !errors.Is(err, edge.ErrOriginUnavailable) {
				t.Fatalf("err = %v, want ErrOriginUnavailable", err)
			}
			if a, r := o.accepted.Load(), o.requests.Load(); a != 1 || r != 2 {
				t.Fatalf("accepted %d, requests %d; want 1, 2 (no retry)", a, r)
			}
		})
	}
}

func TestObserveAndBudget(t *testing.T) {
	url := startFast(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(201)
		ctx.SetBodyString("made")
	})
	var mu sync.Mutex
	var seen []string
	var calls atomic.Int32
	budget := NewBudget(2, 1)
	cl := newTestClient(t, url, Config{
		Budget: budget,
		Observe: func(p edge.Priority, status int, err error, elapsed time.Duration) {
			calls.Add(1)
			if err == nil && budget.InUse() != 0 {
				t.Errorf("Observe called with the slot still held")
			}
			mu.Lock()
			seen = append(seen, p.String()+"/"+http.StatusText(status))
			mu.Unlock()
		},
	})
	if cl.Budget() != budget {
		t.Fatal("Budget() is not the configured budget")
	}
	for _, p := range []edge.Priority{edge.PriorityMiss, edge.PriorityBulk} {
		req, resp := get("/")
		if err := cl.Do(context.Background(), p, req, resp); err != nil || resp.StatusCode() != 201 {
			t.Fatalf("Do: %v %d", err, resp.StatusCode())
		}
	}
	if n := calls.Load(); n != 2 || budget.InUse() != 0 {
		t.Fatalf("Observe calls %d, InUse %d", n, budget.InUse())
	}

	// Budget errors pass through, and are observed.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, resp := get("/")
	if err := cl.Do(ctx, edge.PriorityMiss, req, resp); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	h1, h2 := mustAcquire(t, budget, edge.PriorityMiss), mustAcquire(t, budget, edge.PriorityMiss)
	queued := make(chan edge.Priority, 1)
	budget.mu.Lock()
	budget.testHookQueued = func(p edge.Priority) { queued <- p }
	budget.mu.Unlock()
	waiting := make(chan error, 1)
	wctx, wcancel := context.WithCancel(context.Background())
	go func() {
		req, resp := get("/")
		waiting <- cl.Do(wctx, edge.PrioritySweep, req, resp)
	}()
	<-queued
	req, resp = get("/")
	if err := cl.Do(context.Background(), edge.PrioritySweep, req, resp); !errors.Is(err, edge.ErrOverloaded) {
		t.Fatalf("full queue: %v", err)
	}
	wcancel()
	if err := <-waiting; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	h1()
	h2()
	if n := calls.Load(); n != 5 || budget.InUse() != 0 {
		t.Fatalf("Observe calls %d (want 5), InUse %d", n, budget.InUse())
	}
	mu.Lock()
	defer mu.Unlock()
	if seen[0] != "miss/Created" || seen[1] != "bulk/Created" {
		t.Fatalf("observed %v", seen)
	}
}

func TestConcurrentDo(t *testing.T) {
	var hits atomic.Int32
	url := startFast(t, func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		ctx.SetBodyString("x")
	})
	cl := newTestClient(t, url, Config{MaxConns: 4, IdleTimeout: 50 * time.Millisecond})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 25 {
				req, resp := get("/")
				if err := cl.Do(context.Background(), edge.Priority(g%int(edge.NumPriorities)), req, resp); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if hits.Load() != 200 || cl.Budget().InUse() != 0 {
		t.Fatalf("hits %d, InUse %d", hits.Load(), cl.Budget().InUse())
	}
}

func TestTLS(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(r.Host + " " + r.RequestURI))
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tlsConfig.RootCAs = pool
	cl := newTestClient(t, srv.URL, Config{TLSConfig: tlsConfig})
	for range 2 {
		req, resp := get("/a//b")
		if err := cl.Do(context.Background(), edge.PriorityMiss, req, resp); err != nil {
			t.Fatal(err)
		}
		if string(resp.Body()) != "www.example.com /a//b" {
			t.Fatalf("body %q", resp.Body())
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("hits %d", hits.Load())
	}
}
