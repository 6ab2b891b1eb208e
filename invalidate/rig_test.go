package invalidate_test

// The integration rig: the real store, memory tier, origin client and
// budget, generator and proxy, on loopback, in front of a programmable
// counting origin; the invalidation Service and Regenerator wired as
// cmd/edge wires them.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/memcache"
	"github.com/pregen/edge/internal/origin"
	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/invalidate"
	"github.com/pregen/edge/proxy"
	"github.com/valyala/fasthttp"
)

const publicHost = "edge.test"

// countingOrigin is a real fasthttp server on loopback that counts renders
// per path and answers through a programmable handler.
type countingOrigin struct {
	URL string
	srv *fasthttp.Server

	mu      sync.Mutex // protects renders and times
	renders map[string]int
	times   map[string][]time.Time
	handler atomic.Pointer[fasthttp.RequestHandler]
}

func startOrigin(t testing.TB, h fasthttp.RequestHandler) *countingOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &countingOrigin{URL: "http://" + ln.Addr().String(), renders: map[string]int{}, times: map[string][]time.Time{}}
	o.set(h)
	o.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		o.mu.Lock()
		o.renders[p]++
		o.times[p] = append(o.times[p], time.Now())
		o.mu.Unlock()
		(*o.handler.Load())(ctx)
	}, CloseOnShutdown: true}
	go o.srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() { _ = o.srv.Shutdown() })
	return o
}

func (o *countingOrigin) set(h fasthttp.RequestHandler) { o.handler.Store(&h) }

func (o *countingOrigin) rendered(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.renders[path]
}

func (o *countingOrigin) renderTimes(path string) []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.times[path]...)
}

// versioned answers /anything with a page naming its path and the current
// version, tagged with Surrogate-Key tags(path).
func versioned(version *atomic.Int64, tags func(path string) string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		ctx.SetContentType("text/html; charset=utf-8")
		if tg := tags(p); tg != "" {
			ctx.Response.Header.Set("Surrogate-Key", tg)
		}
		fmt.Fprintf(ctx, "<html><h1>%s v%d</h1>%s</html>", p, version.Load(), strings.Repeat("<p>lorem ipsum</p>", 50))
	}
}

// rig is one edge's worth of real parts.
type rig struct {
	t      testing.TB
	root   string
	store  *store.Store
	memory *memcache.Cache
	keys   *cachekey.Normalizer
	gen    *gen.Generator
	proxy  *proxy.Server
	svc    *invalidate.Service
	regen  *invalidate.Regenerator
	queue  *watchedQueue
	URL    string // the public listener

	stopRegen func()
}

type rigOptions struct {
	root   string
	noSync bool
	budget int // origin budget slots; 0 means 8
	regen  func(r *invalidate.Regenerator)
}

func newRig(t testing.TB, originURL string, o rigOptions) *rig {
	t.Helper()
	if o.root == "" {
		o.root = filepath.Join(t.TempDir(), "pages")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if tt, ok := t.(*testing.T); ok {
		log = slog.New(slog.NewTextHandler(tt.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	r := &rig{t: t, root: o.root}
	var err error
	r.keys, err = cachekey.New(cachekey.Rules{Hosts: []string{publicHost}})
	if err != nil {
		t.Fatal(err)
	}
	var st *store.Store
	r.memory, err = memcache.New(memcache.Config{MaxBytes: 64 << 20, OnEvict: func(k string) {
		if st != nil {
			st.Unwatch(k)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.memory.Close)
	st, err = store.Open(o.root, store.Options{NoSync: o.noSync, Logger: log, OnChange: r.memory.Delete})
	if err != nil {
		t.Fatal(err)
	}
	r.store = st
	t.Cleanup(func() { _ = st.Close() })
	if o.budget == 0 {
		o.budget = 8
	}
	oc, err := origin.New(origin.Config{URL: originURL, Budget: origin.NewBudget(o.budget, 0), Timeout: 10 * time.Second,
		MaxConns: max(64, o.budget)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(oc.Close)
	r.gen = &gen.Generator{Origin: oc, Store: st}
	r.queue = newWatchedQueue(st)
	r.regen = &invalidate.Regenerator{
		Queue: r.queue, Generator: r.gen, Pages: st, Memory: r.memory, Keys: r.keys,
		Concurrency: 4, Rate: -1, Backoff: 50 * time.Millisecond, Timeout: 10 * time.Second, Logger: log,
	}
	if o.regen != nil {
		o.regen(r.regen)
	}
	r.svc = &invalidate.Service{Keys: r.keys, Index: st, Marks: st, Pages: st, Memory: r.memory,
		OnMarked: r.regen.Wake, Logger: log}
	r.proxy = &proxy.Server{Keys: r.keys, Memory: r.memory, Store: st, Generator: r.gen, Origin: oc,
		Logger: log, OnStale: r.svc.Ensure}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: r.proxy.Handler, CloseOnShutdown: true}
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })
	r.URL = "http://" + ln.Addr().String()
	return r
}

// startRegen runs the regenerator until the test ends (or stopRegen).
func (r *rig) startRegen() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.regen.Run(ctx)
	}()
	r.stopRegen = func() { cancel(); <-done }
	r.t.Cleanup(r.stopRegen)
}

func (r *rig) apply(m invalidate.Message) invalidate.Result {
	r.t.Helper()
	res, err := r.svc.Apply(context.Background(), m, "test")
	if err != nil {
		r.t.Fatalf("Apply(%+v): %v", m, err)
	}
	return res
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
	MaxIdleConnsPerHost: 100, DisableCompression: true,
}}

type response struct {
	status int
	cache  string
	header http.Header
	body   string
}

func (r *rig) get(path string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, r.URL+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Host = publicHost
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header.Get("X-Cache"), resp.Header, string(b)}, err
}

func (r *rig) mustGet(path string) response {
	r.t.Helper()
	resp, err := r.get(path)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}

// watchedQueue adapts the store to invalidate.Queue (as cmd/edge does) and
// lets a test wait, without polling, until no mark is pending or claimed.
type watchedQueue struct {
	st *store.Store

	mu     sync.Mutex // protects idle and onDone
	idle   chan struct{}
	onDone func(c invalidate.Claim, removed bool)
}

func newWatchedQueue(st *store.Store) *watchedQueue { return &watchedQueue{st: st} }

func (q *watchedQueue) Next(now time.Time, max int) ([]invalidate.Claim, time.Time, error) {
	cs, wake, err := q.st.Next(now, max)
	out := make([]invalidate.Claim, len(cs))
	for i, c := range cs {
		out[i] = invalidate.Claim(c)
	}
	return out, wake, err
}

func (q *watchedQueue) Settle(c invalidate.Claim, v invalidate.Verdict, notBefore time.Time) (removed bool, err error) {
	sc := store.Claim(c)
	switch v {
	case invalidate.Done:
		removed, err = q.st.Done(sc)
	case invalidate.Retry:
		err = q.st.Retry(sc, notBefore)
	case invalidate.Drop:
		err = q.st.Drop(sc)
	case invalidate.Release:
		q.st.Release(sc)
	}
	q.mu.Lock()
	on := q.onDone
	ms := q.st.MarkStats()
	if ms.Claimed == 0 && ms.Pending == [edge.NumPriorities]int64{} && q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
	q.mu.Unlock()
	if on != nil && v == invalidate.Done {
		on(c, removed)
	}
	return removed, err
}

// drained returns a channel closed once a settlement leaves no mark pending
// or claimed. Call it before the marks are made.
func (q *watchedQueue) drained() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.idle = make(chan struct{})
	return q.idle
}

func waitFor(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(60 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
