package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/demo"
	"github.com/pregen/edge/internal/memcache"
	"github.com/pregen/edge/internal/origin"
	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/proxy"
	"github.com/valyala/fasthttp"
)

const (
	benchHost = "bench.local" // the one host edge serves (Rules.Hosts)
	hotURI    = "/events/42"  // a detail page of the demo site, about 16 KB
	acceptEnc = "gzip, br"    // what a browser sends; edge answers with br
)

// rig is one edge wired as `edge serve` wires it (cmd/edge/serve.go), in
// front of the demo origin on a 127.0.0.1 listener. Nothing is faked except
// the memory tier when rigOptions.NoMemory asks for it.
type rig struct {
	Site  *demo.Site
	Mem   *memcache.Cache // nil with NoMemory
	Store *store.Store
	Proxy *proxy.Server
	Gen   *gen.Generator
	Keys  *cachekey.Normalizer
}

type rigOptions struct {
	// NoMemory replaces the memory tier with one that never holds a page,
	// so every hit reads the disk tier.
	NoMemory bool
	// PromoteWindow is proxy.Server's (1: no disk hit is ever promoted).
	PromoteWindow int
	// Files sends disk hits from the open file (proxy.Server.Files), as
	// `edge serve` does; false reads them into memory.
	Files bool
}

// noMemory is a proxy.Memory that holds nothing.
type noMemory struct{}

var _ proxy.Memory = noMemory{}

func (noMemory) Get([]byte) (*edge.Page, bool)         { return nil, false }
func (noMemory) Set(*edge.Page) bool                   { return false }
func (noMemory) SetTTL(*edge.Page, time.Duration) bool { return false }

// newRig builds a rig whose parts all stop at tb's cleanup.
func newRig(tb testing.TB, o rigOptions) *rig {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(newTBWriter(tb), &slog.HandlerOptions{Level: slog.LevelWarn}))

	// The origin. demo.Config's zero Latency means the default 30ms; a
	// negative one means none.
	site := demo.New(demo.Config{Latency: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	osrv := &fasthttp.Server{Handler: site.Handler, Name: "demo-origin", CloseOnShutdown: true}
	served := make(chan error, 1)
	go func() { served <- osrv.Serve(ln) }()
	tb.Cleanup(func() {
		_ = osrv.Shutdown()
		<-served
	})

	keys, err := cachekey.New(cachekey.Rules{Hosts: []string{benchHost}})
	if err != nil {
		tb.Fatal(err)
	}
	// The memory tier and the store refer to each other as in serve.go.
	var st *store.Store
	mem, err := memcache.New(memcache.Config{
		MaxBytes: 256 << 20,
		OnEvict: func(key string) {
			if st != nil {
				st.Unwatch(key)
			}
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(mem.Close)
	st, err = store.Open(tb.TempDir(), store.Options{NoSync: true, Logger: logger, OnChange: mem.Delete})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- st.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-ran
		if err := st.Close(); err != nil {
			tb.Error(err)
		}
	})

	oc, err := origin.New(origin.Config{URL: "http://" + ln.Addr().String()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(oc.Close)
	g := &gen.Generator{Origin: oc, Store: st}
	px := &proxy.Server{Keys: keys, Memory: mem, Store: st, Generator: g, Origin: oc, Logger: logger}
	r := &rig{Site: site, Mem: mem, Store: st, Proxy: px, Gen: g, Keys: keys}
	if o.NoMemory {
		px.Memory, r.Mem = noMemory{}, nil
	}
	px.PromoteWindow = o.PromoteWindow
	if o.Files {
		px.Files = st
	}
	px.SetPolicy(proxy.Policy{})
	tb.Cleanup(px.Wait) // background refreshes, before the store closes
	return r
}

// newCtx returns a RequestCtx holding a GET of uri for benchHost from a
// browser on 127.0.0.1. Reuse it by resetting its Response between calls,
// as fasthttp's server does between the requests of one connection.
func newCtx(uri string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI(uri)
	req.Header.SetHost(benchHost)
	req.Header.Set(fasthttp.HeaderAcceptEncoding, acceptEnc)
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return ctx
}

// serve runs the handler once on a reused ctx.
func (r *rig) serve(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	r.Proxy.Handler(ctx)
}

// warm generates uri through the handler (one MISS) and waits until the
// next request is a hit: from memory, unless the rig has none. It returns
// a ctx for uri that has just been served a HIT.
func (r *rig) warm(tb testing.TB, uri string) *fasthttp.RequestCtx {
	tb.Helper()
	ctx := newCtx(uri)
	r.serve(ctx)
	if got := string(ctx.Response.Header.Peek("X-Cache")); ctx.Response.StatusCode() != fasthttp.StatusOK || got != "MISS" {
		tb.Fatalf("warming %s: status %d, X-Cache %q, body %.200q", uri, ctx.Response.StatusCode(), got, ctx.Response.Body())
	}
	if r.Mem != nil {
		// ristretto applies writes asynchronously; a hit from disk promotes
		// the page again should the first Set have been dropped.
		for i := 0; ; i++ {
			r.Mem.Wait()
			// In single-host mode a normalised uri is its own key.
			if _, ok := r.Mem.Get([]byte(uri)); ok {
				break
			}
			if i == 100 {
				tb.Fatalf("warming %s: the page never reached the memory tier", uri)
			}
			r.serve(ctx)
		}
	}
	r.serve(ctx)
	checkHit(tb, ctx)
	return ctx
}

// checkHit fails unless ctx holds a 200 HIT in brotli.
func checkHit(tb testing.TB, ctx *fasthttp.RequestCtx) {
	tb.Helper()
	if msg := notHit(ctx); msg != "" {
		tb.Fatal(msg)
	}
}

// notHit describes what is wrong with ctx's response if it is not a 200
// HIT in brotli, else returns "".
func notHit(ctx *fasthttp.RequestCtx) string {
	h := &ctx.Response.Header
	if ctx.Response.StatusCode() == fasthttp.StatusOK && string(h.Peek("X-Cache")) == "HIT" &&
		string(h.ContentEncoding()) == "br" && len(ctx.Response.Body()) > 0 {
		return ""
	}
	return fmt.Sprintf("want a 200 brotli HIT, got status %d, X-Cache %q, Content-Encoding %q, %d body bytes",
		ctx.Response.StatusCode(), h.Peek("X-Cache"), h.ContentEncoding(), len(ctx.Response.Body()))
}

// tbWriter sends log lines to tb.Log until tb's cleanup ends, then drops
// them: a late line from a background goroutine must not panic the run.
type tbWriter struct {
	tb   testing.TB
	mu   sync.Mutex // protects done
	done bool
}

// newTBWriter registers its cleanup first, so that it runs last.
func newTBWriter(tb testing.TB) *tbWriter {
	w := &tbWriter{tb: tb}
	tb.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Logf("%s", p)
	}
	return len(p), nil
}

var _ io.Writer = (*tbWriter)(nil)
