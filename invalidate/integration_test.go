package invalidate_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/invalidate"
	"github.com/valyala/fasthttp"
)

// prime requests every path once (a MISS that stores it).
func (r *rig) prime(paths []string) {
	r.t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, p := range paths {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if resp, err := r.get(p); err != nil || resp.status != 200 {
				r.t.Errorf("priming %s: %d %v", p, resp.status, err)
			}
		})
	}
	wg.Wait()
}

// Invalidating a tag shared by 300 pages regenerates exactly those 300,
// each once, while readers polling all the time get 200 (HIT or STALE,
// never a MISS or an error) and never see a dependency-tag header.
func TestTagSharedBy300Pages(t *testing.T) {
	var version atomic.Int64
	version.Store(1)
	o := startOrigin(t, versioned(&version, func(p string) string {
		var n int
		fmt.Sscanf(p, "/p/%d", &n)
		if n < 300 {
			return fmt.Sprintf("p-%d shared", n)
		}
		return fmt.Sprintf("p-%d", n)
	}))
	r := newRig(t, o.URL, rigOptions{noSync: true})
	var paths []string
	for i := range 320 {
		paths = append(paths, fmt.Sprintf("/p/%d", i))
	}
	r.prime(paths)
	r.startRegen()

	if n, err := r.svc.Impact(t.Context(), invalidate.Message{Tags: []string{"shared"}}); err != nil || n != 300 {
		t.Fatalf("Impact = %d, %v; want 300", n, err)
	}
	if marks := r.store.MarkStats(); marks.Pending != [edge.NumPriorities]int64{} {
		t.Fatalf("Impact marked pages: %+v", marks)
	}

	// Readers poll every page, round and round, for the whole drain.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads, stale atomic.Int64
	var badMu sync.Mutex
	var bad []string
	for w := range 4 {
		readers.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := paths[i%len(paths)]
				resp, err := r.get(p)
				reads.Add(1)
				switch {
				case err != nil || resp.status != 200 || (resp.cache != "HIT" && resp.cache != "STALE") ||
					resp.header.Get("Surrogate-Key") != "":
					badMu.Lock()
					bad = append(bad, fmt.Sprintf("%s: %d %q %v", p, resp.status, resp.cache, err))
					badMu.Unlock()
				case resp.cache == "STALE":
					stale.Add(1)
				}
			}
		})
	}

	done := r.queue.drained()
	version.Store(2)
	res := r.apply(invalidate.Message{Tags: []string{"shared"}})
	if res.Marked != 300 || res.Unknown != 0 {
		t.Fatalf("Apply = %+v, want 300 marked", res)
	}
	waitFor(t, done, "the drain")
	close(stop)
	readers.Wait()
	r.stopRegen() // the last memory drops are done
	if len(bad) > 0 {
		t.Fatalf("%d of %d reads during the drain were not a 200 HIT/STALE, e.g. %v", len(bad), reads.Load(), bad[:min(5, len(bad))])
	}
	t.Logf("%d reads during the drain, %d of them STALE", reads.Load(), stale.Load())

	for i, p := range paths {
		want := 1
		if i < 300 {
			want = 2
		}
		if got := o.rendered(p); got != want {
			t.Errorf("%s rendered %d times, want %d", p, got, want)
		}
	}
	// The regenerated pages are served fresh (not from an old memory copy).
	for _, p := range []string{"/p/0", "/p/150", "/p/299"} {
		resp := r.mustGet(p)
		if resp.cache != "HIT" || !strings.Contains(resp.body, p+" v2") {
			t.Errorf("%s after the drain: %q %.40q", p, resp.cache, resp.body)
		}
	}
	if resp := r.mustGet("/p/310"); !strings.Contains(resp.body, "v1") {
		t.Errorf("an untagged page changed: %.40q", resp.body)
	}
	if got := r.regen.Stats().Outcomes["changed"]; got != 300 {
		t.Errorf("changed outcomes = %d, want 300", got)
	}
}

// A page marked 1,000 times while it is being regenerated costs at most
// two origin renders.
func TestThousandMarksWhileRegenerating(t *testing.T) {
	var version atomic.Int64
	page := versioned(&version, func(string) string { return "hot" })
	o := startOrigin(t, page)
	r := newRig(t, o.URL, rigOptions{noSync: true})
	r.prime([]string{"/hot"})

	arrived, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	first.Store(true)
	o.set(func(ctx *fasthttp.RequestCtx) {
		if first.CompareAndSwap(true, false) {
			close(arrived)
			<-release
		}
		page(ctx)
	})
	r.startRegen()
	done := r.queue.drained()
	r.apply(invalidate.Message{URLs: []string{"/hot"}})
	<-arrived
	for range 1000 {
		r.apply(invalidate.Message{Tags: []string{"hot"}})
	}
	close(release)
	waitFor(t, done, "the drain")
	if got := o.rendered("/hot") - 1; got > 2 {
		t.Fatalf("%d regenerations for 1,001 marks, want at most 2", got)
	}
	if st := r.store.MarkStats(); st.Collapsed < 999 {
		t.Errorf("collapsed marks = %d, want ≥ 999", st.Collapsed)
	}
}

// The origin failing with a 500 during regeneration: the old page is still
// served, the regeneration is retried after the backoff (doubling), and the
// page is fresh once the origin recovers.
func TestOrigin500KeepsOldPageAndRetries(t *testing.T) {
	var version atomic.Int64
	version.Store(1)
	page := versioned(&version, func(string) string { return "x" })
	o := startOrigin(t, page)
	r := newRig(t, o.URL, rigOptions{noSync: true, regen: func(rg *invalidate.Regenerator) {
		rg.Backoff = 100 * time.Millisecond
		rg.MaxAttempts = 5
	}})
	r.prime([]string{"/x"})
	var failures atomic.Int64
	failures.Store(2)
	failed := make(chan struct{}, 2)
	o.set(func(ctx *fasthttp.RequestCtx) {
		if failures.Add(-1) >= 0 {
			ctx.Error("boom", 500)
			failed <- struct{}{}
			return
		}
		page(ctx)
	})
	r.startRegen()
	done := r.queue.drained()
	version.Store(2)
	r.apply(invalidate.Message{Tags: []string{"x"}})

	<-failed // the first regeneration failed: the old page is served
	resp := r.mustGet("/x")
	if resp.status != 200 || resp.cache != "STALE" || !strings.Contains(resp.body, "v1") {
		t.Fatalf("during the failures: %d %q %.40q; want the old page, STALE", resp.status, resp.cache, resp.body)
	}
	waitFor(t, done, "the drain")
	r.stopRegen()
	times := o.renderTimes("/x")[1:] // after priming
	if len(times) != 3 {
		t.Fatalf("%d regeneration attempts, want 3", len(times))
	}
	for i, min := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		if d := times[i+1].Sub(times[i]); d < min {
			t.Errorf("retry %d came %v after the failure, want ≥ %v", i+1, d, min)
		}
	}
	if resp := r.mustGet("/x"); resp.cache != "HIT" || !strings.Contains(resp.body, "v2") {
		t.Fatalf("after recovery: %q %.40q", resp.cache, resp.body)
	}
	st := r.regen.Stats().Outcomes
	if st["origin_5xx"] != 2 || st["changed"] != 1 {
		t.Errorf("outcomes = %v", st)
	}
}

// An origin that keeps failing: after MaxAttempts the mark is left for the
// sweep, counted, and the old page is still served (STALE).
func TestOriginKeepsFailingDropsMark(t *testing.T) {
	var version atomic.Int64
	page := versioned(&version, func(string) string { return "x" })
	o := startOrigin(t, page)
	r := newRig(t, o.URL, rigOptions{noSync: true, regen: func(rg *invalidate.Regenerator) {
		rg.Backoff = 10 * time.Millisecond
		rg.MaxAttempts = 3
	}})
	r.prime([]string{"/x"})
	o.set(func(ctx *fasthttp.RequestCtx) { ctx.Error("down for maintenance", 503) })
	r.startRegen()
	done := r.queue.drained()
	r.apply(invalidate.Message{URLs: []string{"/x"}})
	waitFor(t, done, "the mark being dropped")
	if got := o.rendered("/x") - 1; got != 3 {
		t.Fatalf("%d attempts, want 3", got)
	}
	if st := r.store.MarkStats(); st.Dropped != 1 {
		t.Fatalf("MarkStats = %+v, want 1 dropped", st)
	}
	if st := r.regen.Stats().Outcomes; st["dropped"] != 1 {
		t.Fatalf("outcomes = %v", st)
	}
	if resp := r.mustGet("/x"); resp.status != 200 || resp.cache != "STALE" {
		t.Fatalf("after giving up: %d %q; want the old page, STALE", resp.status, resp.cache)
	}
}

// The origin answering 404 for an invalidated page: the page is gone from
// disk, the index and the tag index, and from memory.
func TestOrigin404RemovesPage(t *testing.T) {
	var version atomic.Int64
	page := versioned(&version, func(string) string { return "g shared-g" })
	o := startOrigin(t, page)
	r := newRig(t, o.URL, rigOptions{noSync: true})
	r.prime([]string{"/gone/1", "/gone/2"})
	if resp := r.mustGet("/gone/1"); resp.cache != "HIT" {
		t.Fatalf("not a hit: %q", resp.cache)
	}
	r.memory.Wait()
	o.set(func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/gone/1" {
			ctx.Error("no such event", 404)
			return
		}
		page(ctx)
	})
	r.startRegen()
	done := r.queue.drained()
	r.apply(invalidate.Message{Tags: []string{"g"}})
	waitFor(t, done, "the drain")
	r.stopRegen()

	if _, err := os.Stat(filepath.Join(r.root, "gone", "1", "index.html")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("page file still on disk: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(r.root, "gone", "1")); len(ents) != 0 {
		t.Errorf("page files left: %v", ents)
	}
	if r.store.Has("/gone/1") || !r.store.Has("/gone/2") {
		t.Error("index: wrong page removed")
	}
	for _, tag := range []string{"g", "shared-g"} {
		var keys []string
		_ = r.store.KeysForTag(tag, func(k string) bool { keys = append(keys, k); return true })
		if len(keys) != 1 || keys[0] != "/gone/2" {
			t.Errorf("tag %s → %v, want only /gone/2", tag, keys)
		}
	}
	if r.store.Marked("/gone/1") {
		t.Error("mark of the removed page left")
	}
	before := o.rendered("/gone/1")
	if resp := r.mustGet("/gone/1"); resp.status != 404 || resp.cache != "MISS" || o.rendered("/gone/1") != before+1 {
		t.Errorf("after removal: %d %q (served from a memory copy?)", resp.status, resp.cache)
	}
}

// Hard invalidation deletes the page and its memory copy at once.
func TestHardInvalidation(t *testing.T) {
	var version atomic.Int64
	o := startOrigin(t, versioned(&version, func(string) string { return "h" }))
	r := newRig(t, o.URL, rigOptions{noSync: true})
	r.prime([]string{"/h/1", "/h/2"})
	r.mustGet("/h/1")
	res := r.apply(invalidate.Message{Prefixes: []string{"/h/"}, Hard: true})
	if res.Deleted != 2 || res.Marked != 0 {
		t.Fatalf("Apply = %+v", res)
	}
	if r.store.Has("/h/1") || r.store.Has("/h/2") {
		t.Fatal("pages left")
	}
	if resp := r.mustGet("/h/1"); resp.cache != "MISS" {
		t.Fatalf("after a hard invalidation: %q, want a MISS", resp.cache)
	}
}
