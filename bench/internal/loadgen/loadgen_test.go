package loadgen

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve starts a fasthttp server on 127.0.0.1 with h and returns its address.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func TestCountSendsEachPathOnce(t *testing.T) {
	var mu sync.Mutex // protects seen
	seen := map[string]int{}
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		seen[string(ctx.Path())]++
		mu.Unlock()
		ctx.Response.Header.Set("X-Cache", "MISS")
		ctx.SetBodyString("page")
	})
	res, err := Run(context.Background(), Config{Addr: addr, Paths: Seq("/p/", 10), Count: 500, Conns: 8})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 500 || res.Requests != 500 || res.Errors != 0 || res.Non2xx != 0 {
		t.Fatalf("sent %d, requests %d, errors %d, non2xx %d; want 500, 500, 0, 0", res.Sent, res.Requests, res.Errors, res.Non2xx)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 500 || seen["/p/10"] != 1 || seen["/p/509"] != 1 {
		t.Fatalf("server saw %d distinct paths (/p/10: %d, /p/509: %d); want 500 once each", len(seen), seen["/p/10"], seen["/p/509"])
	}
	if res.XCache["MISS"] != 500 || res.Statuses[200] != 500 || res.Bytes != 2000 {
		t.Fatalf("x_cache %v, statuses %v, bytes %d", res.XCache, res.Statuses, res.Bytes)
	}
}

func TestConstantRateKeepsSchedule(t *testing.T) {
	var n atomic.Int64
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { n.Add(1) })
	res, err := Run(context.Background(), Config{Addr: addr, Paths: Fixed("/"), Rate: 1000, Duration: 300 * time.Millisecond, Conns: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 300 || n.Load() != 300 || res.Unsent != 0 {
		t.Fatalf("sent %d, server saw %d, unsent %d; want 300, 300, 0", res.Sent, n.Load(), res.Unsent)
	}
}

// A server that stalls once must show in the tail: the requests due during
// the stall are charged from their due time (no coordinated omission).
func TestStallIsChargedToRequestsBehindIt(t *testing.T) {
	var n atomic.Int64
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		if n.Add(1) == 50 {
			time.Sleep(200 * time.Millisecond)
		}
	})
	res, err := Run(context.Background(), Config{Addr: addr, Paths: Fixed("/"), Rate: 1000, Duration: 500 * time.Millisecond, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	// ~200 of 500 requests were due during the stall, waiting 0–200ms: the
	// median is unaffected, but p90 is well above a fast response.
	if res.P90 < 50 || res.Max < 190 {
		t.Fatalf("p90 %.1fms, max %.1fms: the stall was not charged to the requests behind it", res.P90, res.Max)
	}
	if res.Late < 100 {
		t.Fatalf("late %d, want the ~200 requests due during the stall", res.Late)
	}
}

func TestErrorsAndStatuses(t *testing.T) {
	addr := serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(404) })
	res, err := Run(context.Background(), Config{Addr: addr, Paths: Fixed("/x"), Count: 10, Conns: 2,
		Header: [][2]string{{"Cookie", "sessionid=abc"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Non2xx != 10 || res.Statuses[404] != 10 {
		t.Fatalf("non2xx %d, statuses %v; want 10 404s", res.Non2xx, res.Statuses)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	res, _ = Run(context.Background(), Config{Addr: closed, Paths: Fixed("/"), Count: 5, Conns: 1, Timeout: time.Second})
	if res.Errors != 5 || res.Requests != 0 {
		t.Fatalf("errors %d, requests %d against a closed port; want 5, 0", res.Errors, res.Requests)
	}
}

func TestRunNeedsABound(t *testing.T) {
	for _, c := range []Config{
		{Paths: Fixed("/"), Count: 1},
		{Addr: "127.0.0.1:1", Count: 1},
		{Addr: "127.0.0.1:1", Paths: Fixed("/")},
		{Addr: "127.0.0.1:1", Paths: Fixed("/"), Rate: 10, Count: 5},
	} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("Run(%+v) = nil error", c)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 500}, {99, 990}, {99.9, 999}, {100, 1000}, {0.01, 1}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("Percentile(1..1000, %g) = %d, want %d", c.p, got, c.want)
		}
	}
	if Percentile(nil, 99) != 0 {
		t.Error("Percentile of nothing is not 0")
	}
}

func TestZipf(t *testing.T) {
	f, err := Zipf("/e/", 10000, 100, 0.9, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var hot, first int
	const draws = 100000
	for range draws {
		p := string(f(nil, 0, r))
		k, err := strconv.Atoi(strings.TrimPrefix(p, "/e/"))
		if err != nil || k < 1 || k > 10000 {
			t.Fatalf("path %q out of range", p)
		}
		if k <= 100 {
			hot++
		}
		if k == 1 {
			first++
		}
	}
	// 90% hot; page 1 weighs 1/H(100) ≈ 0.193 of the hot picks.
	if hot < draws*88/100 || hot > draws*92/100 {
		t.Errorf("hot share %d/%d, want about 90%%", hot, draws)
	}
	if first < draws*16/100 || first > draws*19/100 {
		t.Errorf("page 1 drawn %d/%d times, want about 17.4%%", first, draws)
	}
	if _, err := Zipf("/e/", 0, 1, 0.5, 1); err == nil {
		t.Error("Zipf with n=0 gave no error")
	}
}

func TestUniformAndSeq(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	u := Uniform("/u/", 5, 7)
	seen := map[string]bool{}
	for range 200 {
		seen[string(u(nil, 0, r))] = true
	}
	if len(seen) != 3 || !seen["/u/5"] || !seen["/u/7"] {
		t.Errorf("Uniform(5, 7) drew %v", seen)
	}
	if got := string(Seq("/s/", 100)(nil, 5, r)); got != "/s/105" {
		t.Errorf("Seq(/s/, 100)(5) = %q", got)
	}
}

// A Client given to several runs keeps its connections between them.
func TestSharedClientKeepsConnections(t *testing.T) {
	var conns atomic.Int64
	addr := serve(t, func(ctx *fasthttp.RequestCtx) {
		if ctx.ConnRequestNum() == 1 {
			conns.Add(1)
		}
	})
	hc := NewClient(addr, 2, time.Second)
	defer hc.CloseIdleConnections()
	for range 3 {
		res, err := Run(context.Background(), Config{Addr: addr, Paths: Fixed("/"), Count: 50, Conns: 2, Client: hc})
		if err != nil || res.Requests != 50 {
			t.Fatalf("%d requests, %v", res.Requests, err)
		}
	}
	if n := conns.Load(); n > 2 {
		t.Fatalf("%d connections over 3 runs with one client of 2; want at most 2", n)
	}
}
