package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregen/edge"
	bolt "go.etcd.io/bbolt"
)

// testClock is a settable clock for Options.Now.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// flush writes what Served buffered, as Budget.Run does on each tick.
func flush(t testing.TB, s *Store) {
	t.Helper()
	for {
		batch := s.drainServed(nil)
		if len(batch) == 0 {
			return
		}
		if err := s.flushServed(batch); err != nil {
			t.Fatal(err)
		}
	}
}

// budgetPage is a stored page generated at gen, of n+4 bytes in all.
func budgetPage(key string, n int, gen time.Time, tags ...string) *edge.Page {
	p := testPage(key, n, "v-"+key, tags...)
	p.GeneratedAt = gen
	p.Gzip, p.Brotli = []byte("gz"), []byte("br") // every page the same size
	return p.Finish()
}

// checkServedIndex asserts that every page has exactly one last-served
// time and one matching lru entry, and that there is nothing else.
func checkServedIndex(t testing.TB, s *Store) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		pages, served, lru := tx.Bucket(bucketPages), tx.Bucket(bucketServed), tx.Bucket(bucketLRU)
		if n, m, l := pages.Stats().KeyN, served.Stats().KeyN, lru.Stats().KeyN; n != m || n != l {
			t.Errorf("%d pages, %d last-served times, %d lru entries", n, m, l)
		}
		return pages.ForEach(func(k, _ []byte) error {
			v, ok := unixOf(served.Get(k))
			if !ok {
				t.Errorf("%s: no last-served time", k)
			} else if lru.Get(lruKey(v, k)) == nil {
				t.Errorf("%s: no lru entry for its time", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// Many hits of a page make one index write per ServedEvery, not one per
// hit, and the hit side never allocates.
func TestServedIsSampledAndBatched(t *testing.T) {
	clk := newTestClock(t0.Add(time.Hour))
	s := newTestStore(t, Options{NoSync: true, Now: clk.Now})
	const pages = 10
	var held []*edge.Page
	for i := range pages {
		mustPut(t, s, budgetPage(fmt.Sprintf("/p/%d", i), 100, t0))
		held = append(held, mustGet(t, s, fmt.Sprintf("/p/%d", i)))
	}
	if at, ok := s.LastServed("/p/3"); !ok || !at.Equal(t0) {
		t.Fatalf("a page never served: last served %v %v, want its generation time %v", at, ok, t0)
	}
	writes := s.Stats().ServedWrites

	// 10,000 hits spread over the pages within one minute.
	for i := range 10000 {
		s.Served(held[i%pages])
		if i%1000 == 999 {
			clk.Add(5 * time.Second)
			s.tickClock()
		}
	}
	if n := len(s.servedQ); n != pages {
		t.Fatalf("%d reports queued after 10,000 hits of %d pages, want %d", n, pages, pages)
	}
	flush(t, s)
	if n := s.Stats().ServedWrites - writes; n != 1 {
		t.Fatalf("%d index writes for 10,000 hits, want 1", n)
	}
	if at, _ := s.LastServed("/p/3"); !at.Equal(t0.Add(time.Hour)) {
		t.Errorf("last served %v, want the first hit's time %v", at, t0.Add(time.Hour))
	}

	// A minute after the first report each page is reported once more.
	clk.Add(15 * time.Second)
	s.tickClock()
	for range 100 {
		for _, p := range held {
			s.Served(p)
		}
	}
	flush(t, s)
	if n := s.Stats().ServedWrites - writes; n != 2 {
		t.Fatalf("%d index writes after a minute more, want 2", n)
	}
	if at, _ := s.LastServed("/p/3"); !at.Equal(clk.Now().Truncate(time.Second)) {
		t.Errorf("last served %v, want %v", at, clk.Now())
	}
	// A page read again from disk carries its recorded time: no new report.
	s.Served(mustGet(t, s, "/p/3"))
	if len(s.servedQ) != 0 {
		t.Error("a page just recorded was reported again after a disk read")
	}
	checkServedIndex(t, s)

	if allocs := testing.AllocsPerRun(1000, func() { s.Served(held[0]) }); allocs != 0 {
		t.Errorf("Served allocates %v times per hit", allocs)
	}
}

// A full buffer drops reports (counted) rather than block the hit.
func TestServedBufferIsLossy(t *testing.T) {
	clk := newTestClock(t0)
	s := newTestStore(t, Options{NoSync: true, Now: clk.Now})
	for i := range servedQueue + 10 {
		s.Served(&edge.Page{Key: fmt.Sprintf("/x/%d", i)})
	}
	if got := s.Stats().ServedDropped; got != 10 {
		t.Errorf("dropped %d, want 10", got)
	}
	flush(t, s) // none of them is stored: nothing is written for them
	checkServedIndex(t, s)
}

// A report that arrives after its page was deleted does not bring back
// its index entries.
func TestServedAfterDelete(t *testing.T) {
	clk := newTestClock(t0.Add(time.Hour))
	s := newTestStore(t, Options{NoSync: true, Now: clk.Now})
	mustPut(t, s, budgetPage("/a", 100, t0))
	p := mustGet(t, s, "/a")
	s.Served(p)
	if err := s.Delete("/a"); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	if _, ok := s.LastServed("/a"); ok {
		t.Error("a deleted page has a last-served time")
	}
	checkServedIndex(t, s)
}

// Budget.Run writes the buffered reports when it stops.
func TestBudgetRunFlushesOnStop(t *testing.T) {
	clk := newTestClock(t0.Add(time.Hour))
	s := newTestStore(t, Options{NoSync: true, Now: clk.Now})
	mustPut(t, s, budgetPage("/a", 100, t0))
	b := &Budget{Store: s, Interval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	s.Served(mustGet(t, s, "/a"))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if at, _ := s.LastServed("/a"); !at.Equal(t0.Add(time.Hour)) {
		t.Errorf("last served %v after Run stopped, want %v", at, t0.Add(time.Hour))
	}
}

// fillStore stores n pages generated a second apart (so the oldest is
// /p/0), each of size bytes, tagged and some marked stale.
func fillStore(t testing.TB, s *Store, n, size int) {
	t.Helper()
	for i := range n {
		mustPut(t, s, budgetPage(fmt.Sprintf("/p/%d", i), size, t0.Add(time.Duration(i)*time.Second), "all", fmt.Sprintf("t%d", i)))
	}
}

// Over max_bytes, the least recently served pages go first, with their
// files, variants, tag entries, marks and memory copies, until the store
// is under 90% of max_bytes; recently served pages stay, whatever their
// age.
func TestEvictLeastRecentlyServed(t *testing.T) {
	clk := newTestClock(t0.Add(time.Hour))
	s := newTestStore(t, Options{NoSync: true, Now: clk.Now})
	const n, size = 40, 1000
	fillStore(t, s, n, size)
	per := s.Stats().Bytes / n
	// The 10 oldest pages are being read.
	for i := range 10 {
		s.Served(mustGet(t, s, fmt.Sprintf("/p/%d", i)))
	}
	flush(t, s)
	if _, _, err := s.Mark([]string{"/p/10", "/p/35"}, edge.PriorityInvalidate, "test"); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var dropped []string
	b := &Budget{Store: s, MaxBytes: per * 30, OnEvict: func(k string) { mu.Lock(); dropped = append(dropped, k); mu.Unlock() }}
	b.enforce(context.Background())

	st := s.Stats()
	if st.Bytes > b.MaxBytes/10*9 {
		t.Fatalf("store holds %d bytes after eviction, want at most %d", st.Bytes, b.MaxBytes/10*9)
	}
	// 40 pages, budget 27 at the low-water mark: the 13 oldest unserved go
	// (/p/10 … /p/22), the 10 served ones and the rest stay.
	var want []string
	for i := 10; i < 23; i++ {
		want = append(want, fmt.Sprintf("/p/%d", i))
	}
	if !slices.Equal(dropped, want) {
		t.Fatalf("evicted %v, want %v", dropped, want)
	}
	if bs := b.Stats(); bs.Evictions != int64(len(want)) || bs.EvictedBytes != per*int64(len(want)) {
		t.Errorf("stats %+v, want %d evictions of %d bytes", bs, len(want), per*int64(len(want)))
	}
	for i := range n {
		key := fmt.Sprintf("/p/%d", i)
		_, err := s.Get(key)
		gone := slices.Contains(want, key)
		if gone != isNotFound(err) || (!gone && err != nil) {
			t.Errorf("%s: Get %v, evicted %v", key, err, gone)
		}
		if gone {
			if _, err := os.Stat(filepath.Join(s.dir, "p", fmt.Sprint(i))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: directory still there (%v)", key, err)
			}
			if k := keysForTag(t, s, fmt.Sprintf("t%d", i)); len(k) != 0 {
				t.Errorf("%s: tag entries left: %v", key, k)
			}
		}
	}
	if got := len(keysForTag(t, s, "all")); got != n-len(want) {
		t.Errorf("tag 'all' has %d pages, want %d", got, n-len(want))
	}
	if s.Marked("/p/10") || !s.Marked("/p/35") {
		t.Error("the evicted page's mark should go, the kept page's stay")
	}
	if ms := s.MarkStats(); ms.Pending[edge.PriorityInvalidate] != 1 {
		t.Errorf("mark counters %+v after eviction, want 1 pending", ms)
	}
	if st.Pages != int64(n-len(want)) {
		t.Errorf("page counter %d, want %d", st.Pages, n-len(want))
	}
	checkServedIndex(t, s)

	// Under the budget now: nothing more goes.
	b.enforce(context.Background())
	if got := b.Stats().Evictions; got != int64(len(want)) {
		t.Errorf("a second check evicted %d more", got-int64(len(want)))
	}
}

// With free space under min_free_bytes, pages are evicted until a tenth
// more than min_free_bytes is free.
func TestEvictForFreeSpace(t *testing.T) {
	clk := newTestClock(t0.Add(time.Hour))
	s := newTestStore(t, Options{NoSync: true, Now: clk.Now})
	fillStore(t, s, 50, 1000)
	per := s.Stats().Bytes / 50
	disk := s.Stats().Bytes + 5*per // the file system: the store and 5 pages of free space
	b := &Budget{Store: s, MinFreeBytes: 20 * per}
	b.freeFn = func() (int64, error) { return disk - s.Stats().Bytes, nil }
	b.enforce(context.Background())
	free := disk - s.Stats().Bytes
	if free < b.MinFreeBytes+b.MinFreeBytes/10 {
		t.Fatalf("%d bytes free after eviction, want at least %d", free, b.MinFreeBytes+b.MinFreeBytes/10)
	}
	if got, want := b.Stats().Evictions, int64(17); got != want {
		t.Errorf("evicted %d pages, want %d (the oldest)", got, want)
	}
	if _, err := s.Get("/p/16"); !isNotFound(err) {
		t.Errorf("oldest pages should be gone: %v", err)
	}
	if _, err := s.Get("/p/17"); err != nil {
		t.Errorf("newer pages should stay: %v", err)
	}
	if bs := b.Stats(); bs.FreeBytes != 5*per {
		t.Errorf("free bytes %d reported, want %d (at the check)", bs.FreeBytes, 5*per)
	}
}

// A page served after it was chosen for eviction, but before its batch
// was removed, stays.
func TestEvictSkipsPagesServedSinceChosen(t *testing.T) {
	clk := newTestClock(t0.Add(time.Hour))
	s := newTestStore(t, Options{NoSync: true, Now: clk.Now})
	fillStore(t, s, 5, 100)
	cands, err := s.oldest(3)
	if err != nil || len(cands) != 3 || cands[0].key != "/p/0" {
		t.Fatalf("oldest: %v %v", cands, err)
	}
	s.Served(mustGet(t, s, "/p/0"))
	flush(t, s)
	evicted, _, err := s.evict(cands, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(evicted, []string{"/p/1", "/p/2"}) {
		t.Errorf("evicted %v, want [/p/1 /p/2]", evicted)
	}
	mustGet(t, s, "/p/0")
	checkServedIndex(t, s)
}

// Readers and writers of other pages go on while pages are evicted: a
// read returns the page or not-found, never a torn page or another error.
func TestEvictConcurrentWithServing(t *testing.T) {
	clk := newTestClock(t0.Add(time.Hour))
	s := newTestStore(t, Options{NoSync: true, Now: clk.Now})
	const n = 300
	fillStore(t, s, n, 200)
	per := s.Stats().Bytes / n
	b := &Budget{Store: s, MaxBytes: per * n / 2}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i = (i + 7) % n {
				key := fmt.Sprintf("/p/%d", i)
				p, err := s.Get(key)
				switch {
				case isNotFound(err):
				case err != nil:
					t.Errorf("Get %s during eviction: %v", key, err)
					return
				case string(p.Body) != string(budgetPage(key, 200, t0).Body):
					t.Errorf("Get %s: torn body", key)
					return
				default:
					s.Served(p)
				}
			}
		})
	}
	wg.Go(func() { // new pages keep being stored
		for i := 0; ctx.Err() == nil && i < 50; i++ {
			mustPut(t, s, budgetPage(fmt.Sprintf("/new/%d", i), 200, t0.Add(time.Hour)))
		}
	})
	b.enforce(ctx)
	cancel()
	wg.Wait()
	flush(t, s)
	if b.Stats().Evictions == 0 {
		t.Fatal("nothing evicted")
	}
	checkServedIndex(t, s)
	rep, err := s.Fsck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Indexed+rep.Dropped+rep.ServedFixed != 0 {
		t.Errorf("fsck after eviction repaired %+v: eviction left files and index apart", rep)
	}
}

// Fsck restores one last-served time and one lru entry per page, online.
func TestFsckReconcilesServed(t *testing.T) {
	clk := newTestClock(t0.Add(time.Hour))
	s := newTestStore(t, Options{NoSync: true, Now: clk.Now})
	fillStore(t, s, 10, 100)
	err := s.db.Update(func(tx *bolt.Tx) error {
		served, lru := tx.Bucket(bucketServed), tx.Bucket(bucketLRU)
		if err := servedDeleteTx(tx, "/p/1"); err != nil { // a page without a time
			return err
		}
		t2, _ := unixOf(served.Get([]byte("/p/2"))) // a time without its lru entry
		if err := lru.Delete(lruKey(t2, []byte("/p/2"))); err != nil {
			return err
		}
		if err := lru.Put(lruKey(5, []byte("/p/3")), nil); err != nil { // a second lru entry
			return err
		}
		if err := served.Put([]byte("/gone"), binary.BigEndian.AppendUint64(nil, 7)); err != nil { // no page
			return err
		}
		if err := lru.Put(lruKey(7, []byte("/gone")), nil); err != nil {
			return err
		}
		return lru.Put([]byte("bad"), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Fsck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// /p/1 added; /p/2's lru added; /gone's time dropped (with its lru
	// entry); /p/3's extra entry and "bad" dropped.
	if rep.ServedFixed != 5 {
		t.Errorf("report %+v, want 5 last-served entries fixed", rep)
	}
	checkServedIndex(t, s)
	if at, ok := s.LastServed("/p/1"); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Errorf("/p/1 last served %v %v, want its generation time", at, ok)
	}
}

// An index written before last-served times existed gets them at Open.
func TestOpenBackfillsServed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{NoSync: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, s, 600, 10)
	err = s.db.Update(func(tx *bolt.Tx) error {
		return errors.Join(tx.DeleteBucket(bucketServed), tx.DeleteBucket(bucketLRU))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir, Options{NoSync: true})
	checkServedIndex(t, s)
	if c, err := s.oldest(1); err != nil || len(c) != 1 || c[0].key != "/p/0" {
		t.Errorf("oldest after backfill: %v %v, want /p/0", c, err)
	}
}
