package sweep_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/sweep"
)

// storeIndex adapts the store's age index (as cmd/edge does).
type storeIndex struct{ st *store.Store }

func (x storeIndex) AgeRange(after sweep.Entry, before time.Time, max int) ([]sweep.Entry, sweep.Entry, error) {
	es, next, err := x.st.AgeRange(store.AgeEntry(after), before, max)
	out := make([]sweep.Entry, len(es))
	for i, e := range es {
		out[i] = sweep.Entry(e)
	}
	return out, sweep.Entry(next), err
}

func (x storeIndex) Pages() int64 { return x.st.Stats().Pages }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The store is opened outside the synctest bubbles: its fsnotify reader is
// not a goroutine the fake clock could wait for.
func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{NoSync: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func putPage(t *testing.T, st *store.Store, key string, at time.Time) {
	t.Helper()
	p := (&edge.Page{Key: key, Status: 200, ContentType: "text/html", Body: []byte("page " + key), GeneratedAt: at}).Finish()
	if _, err := st.Put(p); err != nil {
		t.Fatal(err)
	}
}

// fill stores n pages generated over the half hour before now, oldest
// first (younger than the tests' one-hour period: none is overdue).
func fill(t *testing.T, st *store.Store, n int) []string {
	keys := make([]string, n)
	now := time.Now()
	for i := range keys {
		keys[i] = fmt.Sprintf("/p/%05d", i)
		putPage(t, st, keys[i], now.Add(-30*time.Minute+time.Duration(i)*30*time.Minute/time.Duration(n)))
	}
	return keys
}

// regenerator stands in for invalidate.Regenerator: it drains the marks at
// once, storing each page again (a new generated_at) and counting how many
// times each page was regenerated.
type regenerator struct {
	st   *store.Store
	wake chan struct{}

	mu    sync.Mutex
	count map[string]int
	prio  map[edge.Priority]int
}

func newRegenerator(st *store.Store) *regenerator {
	return &regenerator{st: st, wake: make(chan struct{}, 1), count: map[string]int{}, prio: map[edge.Priority]int{}}
}

func (r *regenerator) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *regenerator) run(t *testing.T, ctx context.Context) {
	for {
		for {
			claims, _, err := r.st.Next(time.Now(), 64)
			if err != nil {
				t.Error(err)
				return
			}
			if len(claims) == 0 {
				break
			}
			for _, c := range claims {
				putPage(t, r.st, c.Key, time.Now())
				if _, err := r.st.Done(c); err != nil {
					t.Error(err)
				}
				r.mu.Lock()
				r.count[c.Key]++
				r.prio[c.Priority]++
				r.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
	}
}

func (r *regenerator) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.count))
	for k, v := range r.count {
		out[k] = v
	}
	return out
}

func newSweeper(st *store.Store, period time.Duration, r *regenerator) *sweep.Sweeper {
	return &sweep.Sweeper{
		Index: storeIndex{st}, Marks: st, State: st, Period: period, Jitter: 0.1,
		OnMarked: r.poke, Logger: quiet(),
	}
}

// start runs the sweeper and the regenerator; stop cancels both and waits.
func start(t *testing.T, s *sweep.Sweeper, r *regenerator) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { r.run(t, ctx) })
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		wg.Wait()
	}
}

// Every page of a 5,000-page store is regenerated within one period, at
// sweep priority, none of them twice; the pages are spread over the period.
func TestEveryPageOncePerPeriod(t *testing.T) {
	const n, period = 5000, time.Hour
	st := openStore(t, filepath.Join(t.TempDir(), "store"))
	defer st.Close()
	synctest.Test(t, func(t *testing.T) {
		keys := fill(t, st, n)
		r := newRegenerator(st)
		s := newSweeper(st, period, r)
		t0 := time.Now()
		stop := start(t, s, r)

		// At half the period, about half the pages are done.
		time.Sleep(period / 2)
		synctest.Wait()
		if got := len(r.counts()); got < n/2-n/20 || got > n/2+n/20 {
			t.Errorf("after half the period %d of %d pages regenerated, want about half", got, n)
		}
		if s := s.Status(time.Now()); s.Cycle != 1 || s.Total != n || s.Done != int64(len(r.counts())) {
			t.Errorf("status at half the period = %+v", s)
		}

		// Just after the period (before the next cycle's first page).
		time.Sleep(time.Until(t0.Add(period + period/n/2)))
		synctest.Wait()
		stop()
		got := r.counts()
		for _, k := range keys {
			if got[k] != 1 {
				t.Errorf("page %s regenerated %d times in one period, want 1", k, got[k])
			}
		}
		if r.prio[edge.PrioritySweep] != n {
			t.Errorf("regenerations by priority = %v, want all %d at sweep priority", r.prio, n)
		}
	})
}

// The sweep resumes at its position after a restart (the store closed and
// reopened): the pages marked before it are not marked again, the rest are,
// within the same cycle.
func TestResumeAfterRestart(t *testing.T) {
	const n, period = 1000, time.Hour
	dir := filepath.Join(t.TempDir(), "store")
	st := openStore(t, dir)
	var keys []string
	var before map[string]int
	var t0, stopped time.Time
	synctest.Test(t, func(t *testing.T) {
		keys = fill(t, st, n)
		t0 = time.Now().Round(0) // wall clock only: the next bubble's clock is another
		r := newRegenerator(st)
		s := newSweeper(st, period, r)
		stop := start(t, s, r)
		time.Sleep(period / 3)
		synctest.Wait()
		stop() // graceful: Run returns nil and the position is saved
		before = r.counts()
		stopped = time.Now().Round(0)
	})
	if len(before) == 0 || len(before) >= n {
		t.Fatalf("%d pages regenerated before the restart, want some", len(before))
	}
	raw, err := st.State(sweep.StateName)
	if err != nil || raw == nil {
		t.Fatalf("saved position: %q, %v", raw, err)
	}
	var saved struct{ Done int64 }
	if err := json.Unmarshal(raw, &saved); err != nil || saved.Done != int64(len(before)) {
		t.Fatalf("saved position %s, want %d done (%v)", raw, len(before), err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, dir)
	defer st.Close()
	synctest.Test(t, func(t *testing.T) {
		// Each bubble's clock starts at the same instant: go back to where
		// the first one stopped, plus a minute of downtime.
		time.Sleep(time.Until(stopped.Add(time.Minute)))
		r := newRegenerator(st)
		s := newSweeper(st, period, r)
		stop := start(t, s, r)
		synctest.Wait()
		// The minute of downtime is caught up at once, in the same cycle.
		if s := s.Status(time.Now()); s.Cycle != 1 || s.Done < saved.Done || s.Behind != 0 {
			t.Errorf("after the restart: %+v, want cycle 1 resumed from %d pages and caught up", s, saved.Done)
		}
		// Until just after the end of the period.
		time.Sleep(time.Until(t0.Add(period + period/n/2)))
		synctest.Wait()
		stop()
		after := r.counts()
		for _, k := range keys {
			if before[k]+after[k] != 1 {
				t.Errorf("page %s regenerated %d times before and %d after the restart, want once in all", k, before[k], after[k])
			}
		}
	})
}

// A page refreshed by an invalidation during the cycle is skipped; a page
// whose regeneration fails is not marked again within the cycle.
func TestSkipsRefreshedAndFailedPages(t *testing.T) {
	const n, period = 100, time.Hour
	st := openStore(t, filepath.Join(t.TempDir(), "store"))
	defer st.Close()
	synctest.Test(t, func(t *testing.T) {
		keys := fill(t, st, n)
		t0 := time.Now()
		var marked []string
		s := &sweep.Sweeper{Index: storeIndex{st}, State: st, Period: period, Logger: quiet(),
			Marks: markFunc(func(ks []string) {
				marked = append(marked, ks...)
				if _, err := st.Unmark(ks); err != nil { // the regeneration "failed" and gave up
					t.Error(err)
				}
			})}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(time.Millisecond)
		putPage(t, st, keys[n-1], time.Now()) // refreshed by an invalidation
		// Until just before the deadline: the next cycle tries the failed
		// pages again.
		time.Sleep(time.Until(t0.Add(period - period/n/2)))
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, k := range marked {
			seen[k]++
		}
		if len(marked) != n-1 || seen[keys[n-1]] != 0 {
			t.Errorf("marked %d pages (the refreshed one %d times), want %d, each once", len(marked), seen[keys[n-1]], n-1)
		}
		for k, c := range seen {
			if c != 1 {
				t.Errorf("page %s marked %d times in one cycle", k, c)
			}
		}
	})
}

type markFunc func(keys []string)

func (f markFunc) Mark(keys []string, prio edge.Priority, source string) (int, int, error) {
	f(keys)
	return len(keys), 0, nil
}

// With period 0 the sweep is off: Run returns at once and marks nothing.
func TestPeriodZeroIsOff(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "store"))
	defer st.Close()
	fill(t, st, 10)
	called := false
	s := &sweep.Sweeper{Index: storeIndex{st}, State: st, Marks: markFunc(func([]string) { called = true })}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if called || s.Status(time.Now()).Enabled {
		t.Error("a sweep with period 0 marked pages or reports itself enabled")
	}
	if raw, _ := st.State(sweep.StateName); raw != nil {
		t.Errorf("a sweep with period 0 saved a position: %s", raw)
	}
}

// A store that grows far beyond the cycle's plan (a first bulk generation)
// gets a new cycle, so its pages are spread over the period too; pages
// older than a period are marked at once.
func TestReplanAndOverdue(t *testing.T) {
	const period = time.Hour
	st := openStore(t, filepath.Join(t.TempDir(), "store"))
	defer st.Close()
	synctest.Test(t, func(t *testing.T) {
		r := newRegenerator(st)
		s := newSweeper(st, period, r)
		stop := start(t, s, r)
		synctest.Wait()
		if c := s.Status(time.Now()); c.Cycle != 1 || c.Total != 0 {
			t.Fatalf("empty store: status %+v", c)
		}
		// 500 pages arrive, ten of them already two periods old.
		now := time.Now()
		for i := range 500 {
			at := now
			if i < 10 {
				at = now.Add(-2 * period)
			}
			putPage(t, st, fmt.Sprintf("/new/%03d", i), at)
		}
		time.Sleep(2 * time.Minute) // the sweep looks at least once a minute
		synctest.Wait()
		c := s.Status(time.Now())
		if c.Cycle != 2 || c.Total != 500 {
			t.Errorf("after the store grew: status %+v, want cycle 2 planned for 500 pages", c)
		}
		got := r.counts()
		for i := range 10 {
			if k := fmt.Sprintf("/new/%03d", i); got[k] != 1 {
				t.Errorf("overdue page %s regenerated %d times, want at once", k, got[k])
			}
		}
		if len(got) > 10+500*3/60 {
			t.Errorf("%d pages regenerated in the first minutes, want the overdue ones and the even pace", len(got))
		}
		stop()
	})
}
