package invalidate

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pregen/edge"
)

// regenRig is a Regenerator on fakes, run inside a synctest bubble.
type regenRig struct {
	q     *fakeQueue
	gen   *fakeGen
	mem   *fakeMemory
	pages *fakeIndex
	r     *Regenerator
	stop  func()
}

func newRegenRig(t *testing.T, keys []string, mod func(r *Regenerator)) *regenRig {
	t.Helper()
	ix := newFakeIndex(keys...)
	rig := &regenRig{q: newFakeQueue(ix), gen: &fakeGen{}, mem: &fakeMemory{}, pages: ix}
	rig.r = &Regenerator{
		Queue: rig.q, Generator: rig.gen, Pages: ix, Memory: rig.mem, Keys: testNormalizer(t),
		Rate: -1, Backoff: time.Second, Logger: testLogger(t),
	}
	if mod != nil {
		mod(rig.r)
	}
	return rig
}

// start runs the regenerator until stop (or the end of the test).
func (rig *regenRig) start(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := rig.r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	rig.stop = func() { cancel(); <-done }
	t.Cleanup(rig.stop)
}

func (rig *regenRig) markAndWake(t *testing.T, keys ...string) {
	t.Helper()
	rig.q.mark(t, keys...)
	rig.r.Wake()
}

func TestRegenerateOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		keys := []string{"/changed", "/same", "/gone", "/err", "/private", "/5xx", "/storefail"}
		rig := newRegenRig(t, keys, nil)
		rig.gen.fn = func(_ context.Context, f edge.Fill) (edge.Result, error) {
			switch f.Key {
			case "/same":
				return okResult(f, false), nil
			case "/gone":
				return edge.Result{Page: &edge.Page{Key: f.Key, Status: 404}, Negative: true}, nil
			case "/err":
				return edge.Result{}, errOrigin
			case "/private":
				return edge.Result{Page: &edge.Page{Key: f.Key, Status: 200}, Reason: "set-cookie"}, nil
			case "/5xx":
				return edge.Result{Page: &edge.Page{Key: f.Key, Status: 503}, Reason: "status"}, nil
			case "/storefail":
				r := okResult(f, true)
				r.StoreErr = fmt.Errorf("disk full")
				return r, nil
			}
			return okResult(f, true), nil
		}
		rig.start(t)
		rig.markAndWake(t, keys...)
		synctest.Wait()

		for _, k := range []string{"/changed", "/same", "/gone"} {
			if rig.q.Marked(k) {
				t.Errorf("%s: mark kept after success", k)
			}
			if rig.mem.count(k) != 1 {
				t.Errorf("%s: memory copy dropped %d times, want 1", k, rig.mem.count(k))
			}
		}
		if rig.pages.Has("/gone") || !rig.pages.Has("/changed") {
			t.Error("a 404 did not remove the page, or a 200 did")
		}
		for _, k := range []string{"/err", "/private", "/5xx", "/storefail"} {
			if !rig.q.Marked(k) || rig.mem.count(k) != 0 || !rig.pages.Has(k) {
				t.Errorf("%s: a failure must keep the mark, the memory copy and the page", k)
			}
		}
		got := rig.r.Stats().Outcomes
		want := map[string]int64{"changed": 1, "unchanged": 1, "removed": 1, "origin_error": 1, "origin_5xx": 1, "uncacheable": 1, "store_error": 1}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("outcomes = %v, want %v", got, want)
				break
			}
		}
		// The fills carry the host and URI the key names, at the mark's priority.
		rig.gen.mu.Lock()
		f := rig.gen.calls[0].f
		rig.gen.mu.Unlock()
		if f.Host != "x.test" || f.URI != f.Key || f.Priority != edge.PriorityInvalidate || f.NoStore {
			t.Errorf("fill = %+v", f)
		}
	})
}

// Failures are retried after Backoff, doubling; the old page stays in the
// meantime; after MaxAttempts the mark is dropped and nothing more happens.
func TestRetryBackoffThenDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newRegenRig(t, []string{"/x", "/y"}, func(r *Regenerator) { r.MaxAttempts = 4 })
		var mu sync.Mutex
		failures := map[string]int{"/x": 2, "/y": 100}
		rig.gen.fn = func(_ context.Context, f edge.Fill) (edge.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			if failures[f.Key] > 0 {
				failures[f.Key]--
				return edge.Result{}, errOrigin
			}
			return okResult(f, true), nil
		}
		start := time.Now()
		rig.start(t)
		rig.markAndWake(t, "/x", "/y")
		time.Sleep(time.Hour)
		synctest.Wait()

		offsets := func(key string) []time.Duration {
			var d []time.Duration
			for _, at := range rig.gen.callTimes(key) {
				d = append(d, at.Sub(start))
			}
			return d
		}
		// /x: fails at 0 and 1s, succeeds at 3s (backoff 1s, then 2s).
		if got, want := offsets("/x"), []time.Duration{0, time.Second, 3 * time.Second}; !slices.Equal(got, want) {
			t.Errorf("/x attempts at %v, want %v", got, want)
		}
		if rig.q.Marked("/x") {
			t.Error("/x still marked")
		}
		// /y: four attempts (0, 1s, 3s, 7s), then dropped: no fifth.
		if got, want := offsets("/y"), []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}; !slices.Equal(got, want) {
			t.Errorf("/y attempts at %v, want %v", got, want)
		}
		if !rig.q.Marked("/y") || rig.q.pending() != 0 {
			t.Error("/y: the dropped mark must stay (for the sweep) and not be pending")
		}
		if got := rig.r.Stats().Outcomes["dropped"]; got != 1 {
			t.Errorf("dropped = %d", got)
		}
	})
}

// Rate paces regenerations across all workers.
func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var keys []string
		for i := range 20 {
			keys = append(keys, fmt.Sprintf("/p/%d", i))
		}
		rig := newRegenRig(t, keys, func(r *Regenerator) { r.Rate = 10; r.Concurrency = 4 })
		start := time.Now()
		rig.start(t)
		rig.markAndWake(t, keys...)
		time.Sleep(time.Minute)
		synctest.Wait()
		ts := rig.gen.callTimes("")
		if len(ts) != 20 {
			t.Fatalf("%d regenerations, want 20", len(ts))
		}
		slices.SortFunc(ts, time.Time.Compare)
		for i := 1; i < len(ts); i++ {
			if d := ts[i].Sub(ts[i-1]); d < 100*time.Millisecond {
				t.Fatalf("regenerations %d and %d only %v apart at 10/s", i-1, i, d)
			}
		}
		if d := ts[19].Sub(start); d != 1900*time.Millisecond {
			t.Errorf("20 pages at 10/s took %v, want 1.9s", d)
		}
	})
}

// Idle workers do not poll: with nothing marked, an hour passes without a
// single look at the queue; a Wake brings them back at once.
func TestIdleWorkersDoNotPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newRegenRig(t, []string{"/a"}, func(r *Regenerator) { r.Concurrency = 3 })
		rig.start(t)
		synctest.Wait()
		rig.q.mu.Lock()
		before := rig.q.nexts
		rig.q.mu.Unlock()
		time.Sleep(time.Hour)
		synctest.Wait()
		rig.q.mu.Lock()
		after := rig.q.nexts
		rig.q.mu.Unlock()
		if after != before {
			t.Fatalf("idle workers looked at the queue %d times in an hour", after-before)
		}
		t0 := time.Now()
		rig.markAndWake(t, "/a")
		synctest.Wait()
		if ts := rig.gen.callTimes("/a"); len(ts) != 1 || !ts[0].Equal(t0) {
			t.Fatalf("after Wake: regenerations at %v, want one at once", ts)
		}
	})
}

// A page marked 1,000 times while it is being regenerated is regenerated
// exactly once more.
func TestRemarkDuringRegenerationCollapses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newRegenRig(t, []string{"/hot"}, nil)
		release := make(chan struct{})
		first := true
		rig.gen.fn = func(_ context.Context, f edge.Fill) (edge.Result, error) {
			if first {
				first = false
				<-release
			}
			return okResult(f, true), nil
		}
		rig.start(t)
		rig.markAndWake(t, "/hot")
		synctest.Wait() // the first regeneration is blocked in the generator
		for range 1000 {
			rig.markAndWake(t, "/hot")
		}
		close(release)
		synctest.Wait()
		if n := len(rig.gen.callTimes("/hot")); n != 2 {
			t.Fatalf("%d regenerations, want 2", n)
		}
		if rig.q.Marked("/hot") {
			t.Fatal("mark left")
		}
		// Only the regeneration that settled the latest mark counts in the
		// mark-to-fresh histogram.
		if h := rig.r.Stats().MarkToFresh; h.Count != 1 {
			t.Errorf("mark-to-fresh observations = %d, want 1", h.Count)
		}
	})
}

// Batch mode: marks are held until a scheduled time, then drained; a mark
// made after that time waits for the next one.
func TestScheduleHoldsMarks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The bubble's clock starts at 2000-01-01 00:00 UTC.
		sched, err := ParseSchedule("0 3,15 * * *", time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		rig := newRegenRig(t, []string{"/a", "/b", "/c"}, func(r *Regenerator) { r.Schedule = sched })
		rig.start(t)
		day := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		if !time.Now().Equal(day) {
			t.Skipf("synctest clock starts at %s", time.Now())
		}
		rig.markAndWake(t, "/a", "/b")
		time.Sleep(2*time.Hour + 59*time.Minute)
		synctest.Wait()
		if n := len(rig.gen.callTimes("")); n != 0 {
			t.Fatalf("%d regenerations before 03:00", n)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		for _, k := range []string{"/a", "/b"} {
			if ts := rig.gen.callTimes(k); len(ts) != 1 || !ts[0].Equal(day.Add(3*time.Hour)) {
				t.Fatalf("%s regenerated at %v, want once at 03:00", k, ts)
			}
		}
		time.Sleep(30 * time.Minute)
		rig.markAndWake(t, "/c") // 03:30
		time.Sleep(11 * time.Hour)
		synctest.Wait()
		if n := len(rig.gen.callTimes("/c")); n != 0 {
			t.Fatalf("/c regenerated before 15:00")
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if ts := rig.gen.callTimes("/c"); len(ts) != 1 || !ts[0].Equal(day.Add(15*time.Hour)) {
			t.Fatalf("/c regenerated at %v, want once at 15:00", ts)
		}
	})
}

// Stopping cancels a regeneration in flight and releases its mark.
func TestStopReleasesClaim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newRegenRig(t, []string{"/slow"}, nil)
		rig.gen.fn = func(ctx context.Context, f edge.Fill) (edge.Result, error) {
			<-ctx.Done()
			return edge.Result{}, fmt.Errorf("gen: %w", ctx.Err())
		}
		rig.start(t)
		rig.markAndWake(t, "/slow")
		synctest.Wait()
		rig.stop()
		rig.q.mu.Lock()
		claimed, settled := len(rig.q.claimed), slices.Clone(rig.q.settled)
		rig.q.mu.Unlock()
		if claimed != 0 || len(settled) != 1 || settled[0].v != Release {
			t.Fatalf("after stop: %d claimed, settlements %+v; want one Release", claimed, settled)
		}
		if !rig.q.Marked("/slow") || rig.q.pending() != 1 {
			t.Fatal("mark lost at stop")
		}
		if got := rig.r.Stats().Outcomes; len(got) != 0 {
			t.Errorf("a stop counted as an outcome: %v", got)
		}
	})
}

func TestBackoffDoublesUpToLimit(t *testing.T) {
	r := &Regenerator{Backoff: time.Second, MaxBackoff: 5 * time.Second}
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, r.backoff(n))
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("backoff = %v, want %v", got, want)
	}
	if d := (&Regenerator{}).backoff(100); d != 10*time.Minute {
		t.Fatalf("default cap = %v", d)
	}
}
