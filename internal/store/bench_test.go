package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

const benchPageSize = 16 << 10

func BenchmarkGet(b *testing.B) {
	s := newTestStore(b, Options{NoSync: true})
	const pages = 100
	for i := range pages {
		mustPut(b, s, testPage(fmt.Sprintf("/bench/%d", i), benchPageSize, "v", "t"))
	}
	b.SetBytes(benchPageSize)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Get(fmt.Sprintf("/bench/%d", i%pages)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGetVariant(b *testing.B) {
	s := newTestStore(b, Options{NoSync: true})
	const pages = 100
	for i := range pages {
		mustPut(b, s, testPage(fmt.Sprintf("/bench/%d", i), benchPageSize, "v", "t"))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.GetVariant(fmt.Sprintf("/bench/%d", i%pages), true, true); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPut(b *testing.B) {
	for _, noSync := range []bool{true, false} {
		b.Run(fmt.Sprintf("NoSync=%v", noSync), func(b *testing.B) {
			s := newTestStore(b, Options{NoSync: noSync})
			const pages = 100
			b.SetBytes(benchPageSize)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// A new version each time: the full write path.
				p := testPage(fmt.Sprintf("/bench/%d", i%pages), benchPageSize, fmt.Sprint("v", i), "t")
				if _, err := s.Put(p); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkEvictWhileServing measures what evicting many pages does to
// readers: two goroutines read (Get, then Served, as a disk hit does) a hot
// set of 1,000 pages, 1,000 reads a second each, first with nothing else
// running (idle: 5,000 reads each), then while a
// Budget evicts the cold pages (EDGE_BENCH_EVICT_PAGES of them; skipped
// when unset; the figure is 100,000). It reports the readers' p50 and p99 in
// both phases and the eviction rate. The index is synced (NoSync false)
// during eviction, as in production; the pages are written without sync
// to keep the setup short. One iteration is the whole scenario: run it
// with -benchtime 1x.
func BenchmarkEvictWhileServing(b *testing.B) {
	v := os.Getenv("EDGE_BENCH_EVICT_PAGES")
	if v == "" {
		b.Skip("set EDGE_BENCH_EVICT_PAGES (e.g. 100000) to run; the setup writes that many pages")
	}
	cold, err := strconv.Atoi(v)
	if err != nil {
		b.Fatal(err)
	}
	const hot = 1000
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "store")
		clk := newTestClock(t0.Add(time.Hour))
		s, err := Open(dir, Options{NoSync: true, Now: clk.Now, Logger: testLogger(b)})
		if err != nil {
			b.Fatal(err)
		}
		fillParallel(b, s, "cold", cold, t0)
		fillParallel(b, s, "hot", hot, t0)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		s = openTestStore(b, dir, Options{Now: clk.Now})
		hotBytes := s.Stats().Bytes / int64(cold+hot) * hot
		// The hot pages are being read: their last-served time is now.
		for i := range hot {
			s.Served(mustGet(b, s, fmt.Sprintf("/hot/%d", i)))
		}
		flush(b, s)

		// read runs two readers, each reading one hot page per millisecond
		// (a paced load, as a server's is, rather than two goroutines
		// spinning on both cores), until stop is closed or each has read
		// max pages, and returns the latencies of Get plus Served.
		read := func(stop <-chan struct{}, max int) []time.Duration {
			var mu sync.Mutex
			var all []time.Duration
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					tick := time.NewTicker(time.Millisecond)
					defer tick.Stop()
					var lat []time.Duration
					for i := w; len(lat) < max; i += 7 {
						select {
						case <-stop:
							max = 0
							continue
						case <-tick.C:
						}
						start := time.Now()
						p, err := s.Get(fmt.Sprintf("/hot/%d", i%hot))
						if err != nil {
							b.Error(err)
							return
						}
						s.Served(p)
						lat = append(lat, time.Since(start))
					}
					mu.Lock()
					all = append(all, lat...)
					mu.Unlock()
				})
			}
			wg.Wait()
			return all
		}
		b.StartTimer()
		idle := read(nil, 5000)

		budget := &Budget{Store: s, MaxBytes: hotBytes * 5 / 4} // low water 90% of it: every cold page goes, no hot one
		stop := make(chan struct{})
		start := time.Now()
		var took time.Duration
		go func() {
			budget.enforce(context.Background())
			took = time.Since(start)
			close(stop)
		}()
		during := read(stop, 1<<30)
		<-stop
		b.StopTimer()
		if got := budget.Stats().Evictions; got < int64(cold-hot/8) { // a few cold pages fit under the low-water mark
			b.Fatalf("evicted %d of %d cold pages", got, cold)
		}
		b.ReportMetric(float64(percentile(idle, 50).Microseconds()), "idle-p50-µs")
		b.ReportMetric(float64(percentile(idle, 99).Microseconds()), "idle-p99-µs")
		b.ReportMetric(float64(percentile(during, 50).Microseconds()), "evict-p50-µs")
		b.ReportMetric(float64(percentile(during, 99).Microseconds()), "evict-p99-µs")
		b.ReportMetric(float64(percentile(during, 100).Microseconds()), "evict-max-µs")
		b.ReportMetric(float64(len(during)), "reads-during")
		b.ReportMetric(float64(budget.Stats().Evictions)/took.Seconds(), "evictions/s")
		b.ReportMetric(took.Seconds(), "evict-s")
		b.StartTimer()
	}
}

// fillParallel stores n pages /prefix/i of 2 KB (identity body only)
// generated at gen, with four writers (their index updates share
// transactions).
func fillParallel(tb testing.TB, s *Store, prefix string, n int, gen time.Time) {
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				p := budgetPage(fmt.Sprintf("/%s/%d", prefix, i), 2000, gen)
				p.Gzip, p.Brotli = nil, nil
				mustPut(tb, s, p.Finish())
			}
		})
	}
	wg.Wait()
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	i := len(d) * p / 100
	if i >= len(d) {
		i = len(d) - 1
	}
	return d[i]
}
