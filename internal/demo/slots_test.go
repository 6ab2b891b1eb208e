package demo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWorkersLimit holds every render in a hook until released and checks
// that no more than Workers renders are ever inside at once.
func TestWorkersLimit(t *testing.T) {
	const workers, requests = 2, 7
	site := newTestSite(Config{Pages: 1000, Workers: workers})
	var inside, most atomic.Int32
	queued := make(chan struct{}, requests)
	entered := make(chan struct{}, requests)
	release := make(chan struct{})
	site.onQueue = func() { queued <- struct{}{} }
	site.onRender = func() {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		entered <- struct{}{}
		<-release
		inside.Add(-1)
	}
	ts := serve(t, site)

	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			if r := ts.get(t, fmt.Sprintf("/events/%d", i+1)); r.status != 200 {
				t.Errorf("status %d", r.status)
			}
		})
	}
	for range requests {
		<-queued
	}
	for range workers {
		<-entered
	}
	// All requests are queued and the slots are full. Let them through one
	// at a time: each release admits at most one more.
	for i := range requests {
		release <- struct{}{}
		if i+workers < requests {
			<-entered
		}
		if n := inside.Load(); n > workers {
			t.Fatalf("%d renders at once, Workers is %d", n, workers)
		}
	}
	wg.Wait()
	if got := most.Load(); got != workers {
		t.Errorf("at most %d renders at once, want exactly %d", got, workers)
	}
	if got := site.TotalRenders(); got != requests {
		t.Errorf("TotalRenders = %d, want %d", got, requests)
	}
}

// TestShutdownCutsRenderShort checks that a render in its latency and one
// queued for a slot do not hold up a graceful shutdown.
func TestShutdownCutsRenderShort(t *testing.T) {
	site := New(Config{Pages: 1000, Latency: time.Hour, Workers: 1})
	entered := make(chan struct{}, 2)
	queued := make(chan struct{}, 2)
	site.onQueue = func() { queued <- struct{}{} }
	site.onRender = func() { entered <- struct{}{} }
	ts := serve(t, site)

	results := make(chan response, 2)
	for _, path := range []string{"/events/1", "/events/2"} {
		go func() { results <- ts.get(t, path) }()
	}
	<-queued
	<-queued
	<-entered // one holds the slot, in its hour of latency; the other waits for it

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.ShutdownWithContext(ctx); err != nil {
		t.Fatalf("ShutdownWithContext: %v", err)
	}
	for range 2 {
		if r := <-results; r.status != 503 || !strings.Contains(r.body, "shutting down") {
			t.Errorf("render during shutdown: %d %q", r.status, r.body)
		}
	}
	if got := site.TotalRenders(); got != 0 {
		t.Errorf("TotalRenders = %d after cut-short renders, want 0", got)
	}
}

func TestLatency(t *testing.T) {
	site := New(Config{Pages: 1000, Latency: 20 * time.Millisecond})
	ts := serve(t, site)
	start := time.Now()
	ts.get(t, "/events/1")
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("a render took %v, want at least the 20ms latency", d)
	}
	start = time.Now()
	ts.get(t, "/_origin/stats")
	ts.get(t, "/sitemap.xml")
	if d := time.Since(start); d >= 20*time.Millisecond {
		t.Logf("stats and sitemap took %v; they should not wait for the latency", d)
	}
}
