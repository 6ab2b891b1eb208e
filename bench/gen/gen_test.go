package genbench

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/demo"
	"github.com/pregen/edge/internal/origin"
	"github.com/pregen/edge/internal/store"
	"github.com/valyala/fasthttp"
)

// BenchmarkBulkDemo30ms generates b.N pages from the demo origin at its
// default pace (30 ms a render, 4 renders at once), with a budget of 4
// origin slots, as edge gen runs against configs/demo.yaml. workers=4 is
// one worker per slot; workers=8 is edge gen's default (two per slot).
//
// slots=6 gives the origin two requests more than it has workers: they
// wait in its queue, so a worker never idles while edge reads a response
// and sends the next request (-concurrency 6 with edge gen). slots=16
// saturates the origin: the most it can render on this machine.
func BenchmarkBulkDemo30ms(b *testing.B) {
	for _, c := range []struct{ slots, workers int }{{4, 4}, {4, 8}, {6, 12}, {16, 32}} {
		b.Run(fmt.Sprintf("slots=%d/workers=%d", c.slots, c.workers), func(b *testing.B) {
			bulk(b, 30*time.Millisecond, 4, c.slots, c.workers)
		})
	}
}

// BenchmarkBulkInstant generates b.N pages from a demo origin with no
// render latency: the cost is edge's (fetch, gzip + brotli at the default
// levels, files and index).
func BenchmarkBulkInstant(b *testing.B) {
	bulk(b, -1, 8, 4, 8)
}

func bulk(b *testing.B, latency time.Duration, originWorkers, slots, workers int) {
	site := demo.New(demo.Config{Latency: latency, Workers: originWorkers})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: site.Handler, CloseOnShutdown: true}
	go srv.Serve(ln)     //nolint:errcheck // ends at Shutdown
	defer srv.Shutdown() //nolint:errcheck

	oc, err := origin.New(origin.Config{URL: "http://" + ln.Addr().String(), Budget: origin.NewBudget(slots, 0)})
	if err != nil {
		b.Fatal(err)
	}
	defer oc.Close()
	st, err := store.Open(b.TempDir(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	keys, err := cachekey.New(cachekey.Rules{Hosts: []string{"bench.local"}})
	if err != nil {
		b.Fatal(err)
	}
	n := b.N
	src := func(yield func(gen.Entry, error) bool) {
		i := 0
		for p := range site.URLs {
			if i++; i > n || !yield(gen.Entry{URL: p, From: "bench", Line: i}, nil) {
				return
			}
		}
	}
	run := &gen.Bulk{
		Maker: &gen.Generator{Origin: oc, Store: st}, Keys: keys, Source: src,
		Priority: edge.PriorityBulk, Concurrency: workers,
	}
	b.ResetTimer()
	sum, err := run.Run(b.Context())
	b.StopTimer()
	if err != nil || sum.OK != int64(n) {
		b.Fatalf("%+v, %v", sum, err)
	}
	pps := float64(sum.OK) / sum.Elapsed.Seconds()
	b.ReportMetric(pps, "pages/s")
	if latency > 0 {
		ceiling := float64(originWorkers) / latency.Seconds()
		b.ReportMetric(100*pps/ceiling, "%ceiling")
	}
	b.ReportMetric(float64(sum.LatencyP50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(sum.LatencyP99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}
