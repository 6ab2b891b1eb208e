package invalidate_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/invalidate"
	"github.com/valyala/fasthttp"
)

// BenchmarkMarkToFresh marks one page every millisecond (1,000 marks/s),
// each as its own message through the admin path (Service.Apply, as
// independent API clients do: concurrent marks share a synced index
// commit), in front of an origin that takes 30 ms a page, and reports the
// time from each mark to its fresh page being in place: p50 and p99 in ms.
// Run it short, for a fixed number of marks:
//
//	go test -run '^$' -bench MarkToFresh -benchtime 3000x ./invalidate
//
// sync=true is the production default (marks and pages fsynced);
// sync=false (store.no_sync) separates the disk's fsync cost from the rest.
func BenchmarkMarkToFresh(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) { benchMarkToFresh(b, !sync) })
	}
}

func benchMarkToFresh(b *testing.B, noSync bool) {
	body := strings.Repeat("<p>lorem ipsum dolor sit amet</p>\n", 120) // ~4 KB
	o := startOrigin(b, func(ctx *fasthttp.RequestCtx) {
		time.Sleep(30 * time.Millisecond)
		ctx.SetContentType("text/html; charset=utf-8")
		ctx.SetBodyString("<h1>" + string(ctx.Path()) + " new</h1>" + body)
	})
	r := newRig(b, o.URL, rigOptions{noSync: noSync, budget: 64, regen: func(rg *invalidate.Regenerator) {
		rg.Concurrency = 64
		rg.Rate = -1
	}})
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = fmt.Sprintf("/b/%d", i)
		p := (&edge.Page{Key: keys[i], Status: 200, ContentType: "text/html", Body: []byte("old"),
			ETag: `"old"`, GeneratedAt: time.Now()}).Finish()
		if _, err := r.store.Put(p); err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	r.queue.onDone = func(c invalidate.Claim, removed bool) {
		if removed {
			mu.Lock()
			lat = append(lat, time.Since(c.MarkedAt))
			mu.Unlock()
		}
	}
	r.startRegen()
	done := r.queue.drained()
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var clients sync.WaitGroup
	for i := range b.N {
		<-tick.C
		clients.Go(func() {
			if _, err := r.svc.Apply(b.Context(), invalidate.Message{URLs: []string{keys[i]}}, "bench"); err != nil {
				b.Error(err)
			}
		})
	}
	clients.Wait()
	marking := time.Since(start)
	waitFor(b, done, "the drain")
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
	b.ReportMetric(float64(b.N)/marking.Seconds(), "marks/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	if len(lat) != b.N {
		b.Fatalf("%d pages fresh, want %d", len(lat), b.N)
	}
}

// BenchmarkHitDuringInvalidation is the request path's cost of a page
// waiting for regeneration: proxy.Server.Handler on a reused RequestCtx
// answering from memory, fresh (HIT) against marked (STALE, which calls
// OnStale = Service.Ensure: one index lookup). The workers are not
// running, so the page stays marked.
func BenchmarkHitDuringInvalidation(b *testing.B) {
	o := startOrigin(b, versioned(new(atomic.Int64), func(string) string { return "t" }))
	r := newRig(b, o.URL, rigOptions{noSync: true})
	for _, mode := range []string{"HIT", "STALE"} {
		b.Run(mode, func(b *testing.B) {
			path := "/" + strings.ToLower(mode)
			ctx := new(fasthttp.RequestCtx)
			var req fasthttp.Request
			req.SetRequestURI(path)
			req.Header.SetHost(publicHost)
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
			r.proxy.Handler(ctx) // MISS: stored and promoted
			if mode == "STALE" {
				if _, _, err := r.store.Mark([]string{path}, edge.PriorityInvalidate, "bench"); err != nil {
					b.Fatal(err)
				}
				r.memory.Delete(path)
			}
			for range 100 { // until the page (stale or not) is in memory
				ctx.Response.Reset()
				r.proxy.Handler(ctx)
				r.memory.Wait()
			}
			if got := string(ctx.Response.Header.Peek("X-Cache")); got != mode {
				b.Fatalf("X-Cache %q, want %s", got, mode)
			}
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				r.proxy.Handler(ctx)
			}
		})
	}
}
