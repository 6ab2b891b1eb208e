package bench

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/storewire"
	"github.com/pregen/edge/invalidate"
	"github.com/pregen/edge/sweep"
)

// sweepPages is the store the sweep benchmarks walk.
const sweepPages = 2000

// defaultPace is the sweep's pace at its default period for the issue's
// 600,000-page site: 600,000 pages ÷ 7 days, about one page a second.
const defaultPace = 600000.0 / (7 * 24 * 3600)

// BenchmarkHitWithSweep is BenchmarkHitMemoryParallel while the rolling
// sweep runs, wired as edge serve wires it (sweep.Sweeper marking pages,
// invalidate.Regenerator regenerating them through the demo origin into
// the store), against the same with the sweep idle. The sweep's period is
// set so that its pace over the 2,000-page store equals the default pace
// of a 600,000-page store (default), and 100 times that (100x), to show
// the headroom. regens/s is the regenerations done while it ran.
func BenchmarkHitWithSweep(b *testing.B) {
	r := newRig(b, rigOptions{})
	fillStore(b, r, sweepPages)
	ctx := r.warm(b, hotURI)
	for _, tc := range []struct {
		name string
		pace float64 // pages per second; 0: no sweep
	}{{"idle", 0}, {"default", defaultPace}, {"100x", 100 * defaultPace}} {
		b.Run(tc.name, func(b *testing.B) {
			var regen *invalidate.Regenerator
			if tc.pace > 0 {
				var stop func()
				regen, stop = startSweep(b, r, time.Duration(float64(sweepPages)/tc.pace*float64(time.Second)))
				defer stop()
			}
			var before int64
			if regen != nil {
				before = regenerations(regen)
			}
			b.SetBytes(int64(len(ctx.Response.Body())))
			b.ReportAllocs()
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := newCtx(hotURI)
				served := false
				for pb.Next() {
					r.serve(ctx)
					served = true
				}
				if msg := notHit(ctx); served && msg != "" {
					b.Error(msg)
				}
			})
			b.StopTimer()
			if regen != nil {
				b.ReportMetric(float64(regenerations(regen)-before)/time.Since(start).Seconds(), "regens/s")
			}
		})
	}
}

// fillStore generates n pages of the demo site into the store, as edge gen
// would, without touching the memory tier.
func fillStore(tb testing.TB, r *rig, n int) {
	tb.Helper()
	var paths []string
	for p := range r.Site.URLs {
		if p != hotURI {
			paths = append(paths, p)
		}
		if len(paths) == n {
			break
		}
	}
	var wg sync.WaitGroup
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for p := range work {
				res, err := r.Gen.Generate(context.Background(), edge.Fill{Key: p, Host: benchHost, URI: p, Priority: edge.PriorityBulk})
				if err != nil || !res.Cacheable {
					tb.Errorf("generating %s: %v (%s)", p, err, res.Reason)
				}
			}
		})
	}
	for _, p := range paths {
		work <- p
	}
	close(work)
	wg.Wait()
	if got := r.Store.Stats().Pages; got < int64(n) {
		tb.Fatalf("store holds %d pages, want %d", got, n)
	}
}

// startSweep runs a sweep with the given period and the regeneration
// workers (defaults of edge serve, rate unlimited so that the 100x pace is
// not capped) until stop is called.
func startSweep(tb testing.TB, r *rig, period time.Duration) (*invalidate.Regenerator, func()) {
	regen := &invalidate.Regenerator{
		Queue: storewire.Queue{Store: r.Store}, Generator: r.Gen, Pages: r.Store, Memory: r.Mem, Keys: r.Keys,
		Rate: -1, Logger: quietLogger(),
	}
	sw := &sweep.Sweeper{
		Index: storewire.Ages{Store: r.Store}, Marks: r.Store, State: r.Store, Period: period, Jitter: 0.1,
		OnMarked: regen.Wake, Logger: quietLogger(),
	}
	// Each sub-benchmark is its own sweep: start from a fresh cycle.
	if err := r.Store.SetState(sweep.StateName, nil); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = regen.Run(ctx) })
	wg.Go(func() { _ = sw.Run(ctx) })
	return regen, func() { cancel(); wg.Wait() }
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func regenerations(r *invalidate.Regenerator) int64 {
	var n int64
	for _, v := range r.Stats().Outcomes {
		n += v
	}
	return n
}
