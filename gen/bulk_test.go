package gen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// TestBulkWholeSiteFromSitemap generates a 20,000-page demo site from its
// sitemap index and checks that every page was rendered and stored exactly
// once. With the race detector the site has 2,000 pages (20,000 would take
// minutes of instrumented compression); run it without -race for the full
// size.
func TestBulkWholeSiteFromSitemap(t *testing.T) {
	pages := 20000
	if raceEnabled {
		pages = 2000
	}
	if testing.Short() {
		t.Skip("20,000 pages")
	}
	r := newRig(t, pages, 0, 4)
	sm := &Sitemaps{Origin: r.originURL, Keys: r.keys}
	b := r.bulk(sm.Source(t.Context(), r.originURL+"/sitemap.xml"))
	b.Concurrency = 8
	sum, err := b.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != int64(pages) || sum.OK != int64(pages) || sum.Done() != int64(pages) || sum.SourceErrors != 0 {
		t.Fatalf("summary %+v, want %d read and ok", sum, pages)
	}
	if got := r.pageRenders(t, 1); got != int64(pages) {
		t.Errorf("origin rendered %d pages, want %d", got, pages)
	}
	if got := r.store.Stats().Pages; got != int64(pages) {
		t.Errorf("store holds %d pages, want %d", got, pages)
	}
	for p := range r.site.URLs {
		if _, err := r.store.Meta(p); err != nil {
			t.Fatalf("page %s: %v", p, err)
		}
	}
	if sum.LatencyP50 <= 0 || sum.LatencyP99 < sum.LatencyP50 || sum.Bytes <= 0 || sum.Stored <= 0 {
		t.Errorf("latency or bytes not measured: %+v", sum)
	}
	t.Logf("%d pages in %s: %.0f pages/s, p50 %s p99 %s", pages, sum.Elapsed.Round(time.Millisecond),
		sum.PagesPerSecond(), sum.LatencyP50, sum.LatencyP99)
}

// TestBulkResumeAfterInterruption cancels a run about half-way and runs it
// again with the same journal: the second run renders only the pages the
// first did not store, and no page is rendered twice.
func TestBulkResumeAfterInterruption(t *testing.T) {
	const pages, cancelAt = 600, 300
	r := newRig(t, pages, 0, 4)
	dir := filepath.Join(r.root, "@edge", "runs")
	id := RunID("test", "site")

	j1, err := OpenJournal(dir, id, "test run", time.Now())
	if err != nil || j1.Resumed {
		t.Fatalf("OpenJournal: %+v, %v", j1, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var ok atomic.Int64
	b1 := r.bulk(r.paths())
	b1.Cutoff = j1.Started
	b1.OnPage = func(pr PageResult) {
		if pr.Outcome == OK && ok.Add(1) == cancelAt {
			cancel()
		}
	}
	sum1, err := b1.Run(ctx)
	if !errors.Is(err, context.Canceled) || !sum1.Interrupted {
		t.Fatalf("first run: %v, %+v; want interrupted by cancellation", err, sum1)
	}
	stored := r.store.Stats().Pages
	renders1 := r.pageRenders(t, 1)
	if stored < cancelAt || stored >= pages || renders1 != stored || sum1.OK != stored {
		t.Fatalf("first run: %d stored, %d rendered, ok %d; want the same, in [%d, %d)", stored, renders1, sum1.OK, cancelAt, pages)
	}
	if sum1.Failed != 0 {
		t.Errorf("pages in flight at cancellation failed instead of finishing: %+v", sum1)
	}

	// The restart: the same arguments find the same journal.
	j2, err := OpenJournal(dir, id, "test run", time.Now())
	if err != nil || !j2.Resumed || !j2.Started.Equal(j1.Started) {
		t.Fatalf("reopened journal: %+v, %v; want resumed from %s", j2, err, j1.Started)
	}
	b2 := r.bulk(r.paths())
	b2.Cutoff = j2.Started
	sum2, err := b2.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := j2.Remove(); err != nil {
		t.Fatal(err)
	}
	if sum2.Skipped != stored || sum2.OK != pages-stored {
		t.Errorf("second run %+v: want %d skipped and %d ok", sum2, stored, pages-stored)
	}
	if got := r.pageRenders(t, 1); got != pages {
		t.Errorf("origin rendered %d pages in both runs, want %d (each once)", got, pages)
	}
	if _, err := os.Stat(j2.Path); !os.IsNotExist(err) {
		t.Errorf("journal left after the run completed: %v", err)
	}
}

// TestBulkFourShardsCoverTheSite runs shards 0/4 … 3/4 at once: together
// they make every page, each exactly once.
func TestBulkFourShardsCoverTheSite(t *testing.T) {
	const pages, shards = 600, 4
	r := newRig(t, pages, 0, 4)
	sums := make([]Summary, shards)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			b := r.bulk(r.paths())
			b.Shard, b.Shards = i, shards
			b.Concurrency = 2
			var err error
			if sums[i], err = b.Run(t.Context()); err != nil {
				t.Errorf("shard %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	var total int64
	for i, s := range sums {
		if s.OK == 0 || s.OK+s.OtherShard != pages {
			t.Errorf("shard %d/%d: %+v", i, shards, s)
		}
		total += s.OK
	}
	if total != pages {
		t.Errorf("shards made %d pages together, want %d", total, pages)
	}
	if got := r.pageRenders(t, 1); got != pages {
		t.Errorf("origin rendered %d pages, want %d", got, pages)
	}
}

// TestBulkUnchangedPagesAreNotRewritten runs twice over a stored site whose
// content did not change: the second run counts every page unchanged and
// leaves every page file as it was.
func TestBulkUnchangedPagesAreNotRewritten(t *testing.T) {
	const pages = 200
	r := newRig(t, pages, 0, 4)
	if sum, err := r.bulk(r.paths()).Run(t.Context()); err != nil || sum.OK != pages {
		t.Fatalf("first run: %+v, %v", sum, err)
	}
	before := stamps(t, r.root)
	if len(before) < pages {
		t.Fatalf("only %d page files on disk", len(before))
	}
	sum, err := r.bulk(r.paths()).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Unchanged != pages || sum.OK != 0 || sum.Stored != 0 {
		t.Errorf("second run %+v: want %d unchanged, none written", sum, pages)
	}
	after := stamps(t, r.root)
	for p, st := range before {
		if after[p] != st {
			t.Errorf("%s rewritten: %+v → %+v", p, st, after[p])
		}
	}
}

// TestBulkSinceSkipsFreshPages: pages generated after the cutoff are not
// asked of the origin again.
func TestBulkSinceSkipsFreshPages(t *testing.T) {
	const pages = 200
	r := newRig(t, pages, 0, 4)
	if _, err := r.bulk(r.paths()).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := r.bulk(r.paths())
	b.Cutoff = time.Now().Add(-time.Hour)
	sum, err := b.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != pages || sum.Fetched() != 0 {
		t.Errorf("summary %+v, want all %d skipped", sum, pages)
	}
	if got := r.pageRenders(t, 1); got != pages {
		t.Errorf("origin rendered %d pages, want %d", got, pages)
	}
	// A page marked stale is made again even though it is recent.
	if _, err := r.store.SetStale([]string{"/events/1"}, true); err != nil {
		t.Fatal(err)
	}
	b = r.bulk(r.paths())
	b.Cutoff = time.Now().Add(-time.Hour)
	if sum, err = b.Run(t.Context()); err != nil || sum.Fetched() != 1 || r.site.Renders("/events/1") != 2 {
		t.Errorf("stale page: %+v, %v, %d renders", sum, err, r.site.Renders("/events/1"))
	}
}

// TestBulkRefusesWhatEdgeNeverStores: bad lines, foreign hosts, bypassed
// paths and uncached queries are counted as refused, with their line, and
// the run carries on.
func TestBulkRefusesWhatEdgeNeverStores(t *testing.T) {
	r := newRig(t, 10, 0, 2)
	list := strings.Join([]string{
		"# a comment",
		"/events/1",
		"http://other.example/events/2",
		"",
		"not a url",
		"http://site.test/accounts/login",
		"/events/?page=2",
		"/a/../b",
		"  http://SITE.test/events/3  ",
		"/events/1?utm_source=x", // the same page as line 2, generated once
	}, "\n")
	b := r.bulk(URLList(strings.NewReader(list), "list.txt"))
	b.BypassPaths = []string{"/accounts/"}
	b.Cutoff = time.Now()
	b.Concurrency = 1 // line 10 is looked up after line 2 is stored
	var mu sync.Mutex
	got := map[string]string{}
	b.OnPage = func(pr PageResult) {
		mu.Lock()
		got[pr.Entry.Where()] = pr.Outcome.String() + " " + pr.Reason
		mu.Unlock()
	}
	sum, err := b.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"list.txt:2":  "ok ",
		"list.txt:3":  "refused host not served",
		"list.txt:5":  "refused bad URL",
		"list.txt:6":  "refused bypass path",
		"list.txt:7":  "refused query not cached",
		"list.txt:8":  "refused bad URL",
		"list.txt:9":  "ok ",
		"list.txt:10": "skipped ",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	if sum.Read != 8 || sum.Refused != 5 || sum.OK != 2 || sum.Skipped != 1 {
		t.Errorf("summary %+v", sum)
	}
	if n := r.site.Renders("/events/1"); n != 1 {
		t.Errorf("/events/1 rendered %d times", n)
	}
}

// TestBulkFailuresFileCanBeFedBack: failed URLs are written one per line
// as read, and that file is a URL list that names the same pages.
func TestBulkFailuresFileCanBeFedBack(t *testing.T) {
	var hits sync.Map
	url := serveHandler(t, func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		n, _ := hits.LoadOrStore(p, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		switch {
		case strings.HasPrefix(p, "/fail/"):
			ctx.Error("boom", fasthttp.StatusInternalServerError)
		case strings.HasPrefix(p, "/busy/"):
			ctx.Error("slow down", fasthttp.StatusTooManyRequests)
		case p == "/gone":
			ctx.Error("gone", fasthttp.StatusNotFound)
		case p == "/private":
			ctx.Response.Header.Set("Set-Cookie", "a=b")
			ctx.SetBodyString("mine")
		default:
			ctx.SetContentType("text/html")
			ctx.SetBodyString("<p>" + p)
		}
	})
	r := newRigFor(t, url, nil, 2)
	list := "/ok/1\n/fail/1\nhttp://site.test/fail/2\n/gone\n/private\n/busy/1\n/ok/2\n"
	var failures bytes.Buffer
	b := r.bulk(URLList(strings.NewReader(list), "list"))
	b.Failures = &failures
	sum, err := b.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 2 || sum.Failed != 3 || sum.NotStorable != 2 {
		t.Errorf("summary %+v", sum)
	}
	lines := strings.Split(strings.TrimSpace(failures.String()), "\n")
	if strings.Join(slices.Sorted(slices.Values(lines)), " ") != "/busy/1 /fail/1 http://site.test/fail/2" {
		t.Fatalf("failures file %q", failures.String())
	}
	// Fed back, the file names the same pages.
	var again bytes.Buffer
	b = r.bulk(URLList(bytes.NewReader(failures.Bytes()), "failures"))
	b.Failures = &again
	if sum, err = b.Run(t.Context()); err != nil || sum.Read != 3 || sum.Failed != 3 {
		t.Errorf("fed back: %+v, %v", sum, err)
	}
	if again.Len() != failures.Len() {
		t.Errorf("second failures file %q", again.String())
	}
	if n, _ := hits.Load("/fail/2"); n.(*atomic.Int32).Load() != 2 {
		t.Errorf("/fail/2 asked %d times, want 2", n.(*atomic.Int32).Load())
	}
}

// TestBulkGivesUpWhenTheOriginIsDown stops a run whose pages all fail.
func TestBulkGivesUpWhenTheOriginIsDown(t *testing.T) {
	r := newRig(t, 10, 0, 2)
	dead := &fakeMaker{gen: func(ctx context.Context, f edge.Fill) (edge.Result, error) {
		return edge.Result{}, fmt.Errorf("gen: %s: %w", f.URI, edge.ErrOriginUnavailable)
	}}
	b := r.bulk(numbered(1000))
	b.Maker = dead
	b.GiveUpAfter = 10
	sum, err := b.Run(t.Context())
	if !errors.Is(err, ErrGaveUp) || !sum.Interrupted {
		t.Fatalf("Run: %v, %+v; want ErrGaveUp", err, sum)
	}
	if sum.Failed < 10 || sum.Failed > 10+int64(b.Concurrency) {
		t.Errorf("failed %d, want about 10", sum.Failed)
	}
}

// TestBulkStopsWhenTheStoreIsFull: a full disk stops the run with a clear
// error rather than failing every remaining page.
func TestBulkStopsWhenTheStoreIsFull(t *testing.T) {
	r := newRig(t, 10, 0, 2)
	var calls atomic.Int32
	full := &fakeMaker{gen: func(ctx context.Context, f edge.Fill) (edge.Result, error) {
		calls.Add(1)
		p := &edge.Page{Key: f.Key, Status: 200, Body: []byte("x")}
		return edge.Result{Page: p, Cacheable: true,
			StoreErr: fmt.Errorf("store: put %q: %w: no space left on device", f.Key, edge.ErrStoreFull)}, nil
	}}
	b := r.bulk(numbered(1000))
	b.Maker = full
	sum, err := b.Run(t.Context())
	if !errors.Is(err, edge.ErrStoreFull) || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("Run: %v; want a store-full error", err)
	}
	if n := calls.Load(); n > int32(2*b.Concurrency) || sum.Failed != int64(n) {
		t.Errorf("%d pages attempted, %d failed after the store filled up", n, sum.Failed)
	}
}

// TestBulkRateCapsPagesPerSecond checks the pace of a capped run.
func TestBulkRateCapsPagesPerSecond(t *testing.T) {
	r := newRig(t, 10, 0, 2)
	b := r.bulk(numbered(21))
	b.Maker = &fakeMaker{}
	b.Rate = 100
	start := time.Now()
	sum, err := b.Run(t.Context())
	if err != nil || sum.OK != 21 {
		t.Fatalf("%+v, %v", sum, err)
	}
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("21 pages at 100/s took %s, want at least 200ms", d)
	}
}

// TestBulkMemoryStaysFlat streams many entries through a run and checks the
// heap does not grow with them.
func TestBulkMemoryStaysFlat(t *testing.T) {
	const n = 200000
	if testing.Short() {
		t.Skip("200,000 entries")
	}
	r := newRig(t, 10, 0, 2)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b := r.bulk(numbered(n))
	b.Maker = &fakeMaker{}
	b.Generated = nil
	b.Concurrency = 8
	sum, err := b.Run(t.Context())
	if err != nil || sum.OK != n {
		t.Fatalf("%+v, %v", sum, err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("heap grew by %d bytes over %d entries", grew, n)
	}
}

// TestBulkCancelWhileSourceBlocks: a source blocked in a read (standard
// input) does not keep a cancelled run from returning.
func TestBulkCancelWhileSourceBlocks(t *testing.T) {
	r := newRig(t, 10, 0, 2)
	pr, pw := io.Pipe()
	defer pw.Close()
	b := r.bulk(URLList(pr, "-"))
	b.Maker = &fakeMaker{}
	ctx, cancel := context.WithCancel(t.Context())
	b.OnPage = func(PageResult) { cancel() }
	go func() { _, _ = io.WriteString(pw, "/events/1\n") }()
	sum, err := b.Run(ctx)
	if !errors.Is(err, context.Canceled) || sum.OK != 1 {
		t.Fatalf("%+v, %v", sum, err)
	}
}

func TestShardOfIsStable(t *testing.T) {
	// FNV-1a 64, computed independently: changing the function would
	// reshuffle every sharded run in progress.
	h := uint64(14695981039346656037)
	for _, c := range []byte("/events/1") {
		h ^= uint64(c)
		h *= 1099511628211
	}
	for n := 1; n <= 16; n++ {
		if got, want := ShardOf("/events/1", n), int(h%uint64(n)); got != want {
			t.Errorf("ShardOf(/events/1, %d) = %d, want %d", n, got, want)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Fatal("empty histogram")
	}
	for i := 1; i <= 1000; i++ {
		h.observe(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.07 || d > 0.07 {
			t.Errorf("q%.2f = %s, want %s ± 7%%", c.q, got, c.want)
		}
	}
	var b Bulk
	b.ObserveOrigin(30 * time.Millisecond)
	if s := b.Progress(); s.OriginP50 < 29*time.Millisecond || s.OriginP99 > 31*time.Millisecond || s.LatencyP50 != 0 {
		t.Errorf("origin latency not reported apart: %+v", s)
	}
	for _, us := range []uint64{0, 1, 7, 8, 9, 15, 16, 1000, 1 << 39, 1 << 41, ^uint64(0)} {
		if i := bucketOf(us); i < 0 || i >= len(h.buckets) {
			t.Errorf("bucketOf(%d) = %d", us, i)
		}
	}
}

// fakeMaker makes pages instantly (gen nil: a stored, changed page).
type fakeMaker struct {
	gen func(ctx context.Context, f edge.Fill) (edge.Result, error)
}

func (m *fakeMaker) Generate(ctx context.Context, f edge.Fill) (edge.Result, error) {
	if m.gen != nil {
		return m.gen(ctx, f)
	}
	return edge.Result{Page: &edge.Page{Key: f.Key, Status: 200, Body: []byte("x")}, Cacheable: true, Changed: true}, nil
}

var _ Maker = (*fakeMaker)(nil)

// numbered is a Source of n distinct paths.
func numbered(n int) Source {
	return func(yield func(Entry, error) bool) {
		for i := range n {
			if !yield(Entry{URL: fmt.Sprintf("/p/%d", i), From: "gen", Line: i + 1}, nil) {
				return
			}
		}
	}
}
