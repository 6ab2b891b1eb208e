package bench

import (
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge/proxy"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// BenchmarkHitMemory is proxy.Server.Handler alone answering a page held by
// the memory tier: key normalisation, policy check, ristretto lookup,
// encoding negotiation and the response headers. No network, no parsing.
// Bytes/s counts the brotli body handed to fasthttp (not copied).
func BenchmarkHitMemory(b *testing.B) {
	r := newRig(b, rigOptions{})
	ctx := r.warm(b, hotURI)
	b.SetBytes(int64(len(ctx.Response.Body())))
	b.ReportAllocs()
	for b.Loop() {
		r.serve(ctx)
	}
	checkHit(b, ctx)
	checkOneRender(b, r)
}

// BenchmarkHitMemoryParallel is BenchmarkHitMemory from GOMAXPROCS
// goroutines at once (one RequestCtx each): contention on ristretto, the
// scratch pool and the stats counters.
func BenchmarkHitMemoryParallel(b *testing.B) {
	r := newRig(b, rigOptions{})
	ctx := r.warm(b, hotURI)
	b.SetBytes(int64(len(ctx.Response.Body())))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := newCtx(hotURI)
		served := false
		for pb.Next() {
			r.serve(ctx)
			served = true
		}
		if msg := notHit(ctx); served && msg != "" {
			b.Error(msg) // not Fatal: this is not the benchmark's goroutine
		}
	})
	b.StopTimer()
	checkOneRender(b, r)
}

// BenchmarkHitDisk is the handler answering from the disk tier on every
// request (the memory tier holds nothing) for a page asked for again: an
// index lookup in bbolt, the page's three files opened, identity-checked
// and read whole, and the promotion (a Watch of the directory, already
// watched).
func BenchmarkHitDisk(b *testing.B) {
	r := newRig(b, rigOptions{NoMemory: true})
	ctx := r.warm(b, hotURI)
	b.SetBytes(int64(len(ctx.Response.Body())))
	b.ReportAllocs()
	for b.Loop() {
		r.serve(ctx)
	}
	checkHit(b, ctx)
	checkOneRender(b, r)
}

// BenchmarkHitDiskFirst is a disk hit the doorkeeper has not seen before
// (a crawler's request): an index lookup and only the representation the
// client is sent read, in one openat2, fstat, pread and close.
func BenchmarkHitDiskFirst(b *testing.B) {
	r := newRig(b, rigOptions{NoMemory: true, PromoteWindow: 1})
	ctx := r.warm(b, hotURI)
	b.SetBytes(int64(len(ctx.Response.Body())))
	b.ReportAllocs()
	for b.Loop() {
		r.serve(ctx)
	}
	checkHit(b, ctx)
	checkOneRender(b, r)
}

// BenchmarkHitDiskTCP is a disk hit the doorkeeper has not seen before
// through the whole HTTP path over a loopback TCP connection (edge's own
// listener, as `edge serve` runs it): "read" reads the representation
// into memory and writes it, "file" opens it and sends it from the file —
// a body over 8 KiB (identity, ~16 KB) with sendfile after its headers;
// a smaller one (brotli, ~3 KB) read into fasthttp's pooled buffer. One client connection, one request
// at a time; both ends are counted.
func BenchmarkHitDiskTCP(b *testing.B) {
	for _, enc := range []string{"br", "identity"} {
		for _, files := range []bool{false, true} {
			name := enc + "/" + map[bool]string{false: "read", true: "file"}[files]
			b.Run(name, func(b *testing.B) { benchDiskTCP(b, enc, files) })
		}
	}
}

func benchDiskTCP(b *testing.B, enc string, files bool) {
	r := newRig(b, rigOptions{NoMemory: true, PromoteWindow: 1, Files: files})
	r.warm(b, hotURI)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := r.Proxy.HTTPServer(proxy.Limits{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	b.Cleanup(func() {
		_ = srv.Shutdown()
		<-served
	})
	hc := &fasthttp.HostClient{Addr: ln.Addr().String(), ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + benchHost + hotURI)
	req.Header.Set(fasthttp.HeaderAcceptEncoding, enc)
	if err := hc.Do(req, resp); err != nil {
		b.Fatal(err)
	}
	size := len(resp.Body())
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if err := hc.Do(req, resp); err != nil || resp.StatusCode() != fasthttp.StatusOK ||
			string(resp.Header.Peek("X-Cache")) != "HIT" || len(resp.Body()) != size {
			b.Fatalf("not a whole 200 HIT: %v, status %d, X-Cache %q, %d bytes", err, resp.StatusCode(),
				resp.Header.Peek("X-Cache"), len(resp.Body()))
		}
	}
	checkOneRender(b, r)
}

// BenchmarkHitMemoryHTTP is a memory hit through the whole HTTP path: a
// fasthttp.HostClient writes the request to a real fasthttp.Server
// (px.HTTPServer, default limits) over an in-memory listener, which parses
// it, runs the handler and writes the response, which the client reads.
// It counts both ends of the connection, so it is a lower bound on the
// server's own throughput.
func BenchmarkHitMemoryHTTP(b *testing.B) {
	r := newRig(b, rigOptions{})
	warm := r.warm(b, hotURI)
	b.SetBytes(int64(len(warm.Response.Body())))

	ln := fasthttputil.NewInmemoryListener()
	srv := r.Proxy.HTTPServer(proxy.Limits{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	b.Cleanup(func() {
		_ = srv.Shutdown() // closes ln
		<-served
	})
	hc := &fasthttp.HostClient{
		Addr:         benchHost,
		Dial:         func(string) (net.Conn, error) { return ln.Dial() },
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
	}
	defer hc.CloseIdleConnections()

	var failures atomic.Int64
	var lastBad atomic.Value // string
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + benchHost + hotURI)
		req.Header.Set(fasthttp.HeaderAcceptEncoding, acceptEnc)
		for pb.Next() {
			err := hc.Do(req, resp)
			if err == nil && resp.StatusCode() == fasthttp.StatusOK && string(resp.Header.Peek("X-Cache")) == "HIT" {
				continue
			}
			failures.Add(1)
			if err != nil {
				lastBad.Store(err.Error())
			} else {
				lastBad.Store("status " + strconv.Itoa(resp.StatusCode()) + ", X-Cache " + string(resp.Header.Peek("X-Cache")))
			}
		}
	})
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d requests were not a 200 HIT; last: %v", n, b.N, lastBad.Load())
	}
	checkOneRender(b, r)
}

// BenchmarkMissGenerate is the whole miss path, one fresh page per
// iteration (/events/1, /events/2, …): a flight of one, the request to the
// demo origin over TCP (no render latency), the page built, gzip and brotli
// variants compressed, the files and index written (no fsync), the page
// promoted into memory, and the MISS answered.
func BenchmarkMissGenerate(b *testing.B) {
	r := newRig(b, rigOptions{})
	ctx := newCtx(hotURI)
	uri := []byte("/events/")
	id := 0
	b.ReportAllocs()
	for b.Loop() {
		id++
		ctx.Request.SetRequestURIBytes(strconv.AppendInt(uri[:len("/events/")], int64(id), 10))
		r.serve(ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			b.Fatalf("/events/%d: status %d, body %.200q", id, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	b.StopTimer()
	st := r.Proxy.Stats()
	if st.Miss != int64(id) || st.Hit != 0 || st.NotStored != 0 || st.StoreErrors != 0 || r.Site.TotalRenders() != int64(id) {
		b.Fatalf("after %d fresh keys: %+v, %d origin renders", id, st, r.Site.TotalRenders())
	}
}

// TestMemoryHitZeroAllocs holds a memory hit through the handler to zero
// allocations per request.
//
// testing.AllocsPerRun (like -benchmem's allocs/op) divides with integers,
// so an allocation made once every few requests reads as 0. The second
// check counts every allocation over many requests: ristretto makes one
// (a 512-byte slice, ring.go, for each batch of 64 Gets it hands to its
// policy), and that is the only one allowed.
func TestMemoryHitZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates and sync.Pool drops items under it")
	}
	r := newRig(t, rigOptions{})
	ctx := r.warm(t, hotURI)
	allocs := testing.AllocsPerRun(200, func() { r.serve(ctx) })
	checkHit(t, ctx)
	if allocs != 0 {
		t.Errorf("a memory hit allocates %v times per request, want 0", allocs)
	}

	const runs = 64 * 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		r.serve(ctx)
	}
	runtime.ReadMemStats(&after)
	n := after.Mallocs - before.Mallocs
	t.Logf("%d allocations in %d memory hits (%.4f per hit)", n, runs, float64(n)/runs)
	if n > runs/64+10 {
		t.Errorf("%d allocations in %d memory hits: more than ristretto's one per 64 Gets", n, runs)
	}
}

// checkOneRender fails unless the origin rendered the hot page once: every
// request after the warming one was a hit.
func checkOneRender(tb testing.TB, r *rig) {
	tb.Helper()
	if n := r.Site.TotalRenders(); n != 1 {
		tb.Errorf("the origin rendered %d pages, want 1 (the warming miss)", n)
	}
	if st := r.Proxy.Stats(); st.Miss != 1 {
		tb.Errorf("stats %+v, want exactly one miss", st)
	}
}
