package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pregen/edge"
)

// putPages stores n small pages /p/0 … /p/n-1 (plus tags) and returns their keys.
func putPages(t testing.TB, s *Store, n int, tags ...string) []string {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("/p/%d", i)
		mustPut(t, s, testPage(keys[i], 10, "v1", tags...))
	}
	return keys
}

func mustMark(t testing.TB, s *Store, keys []string, prio edge.Priority) (marked, unknown int) {
	t.Helper()
	marked, unknown, err := s.Mark(keys, prio, "test")
	if err != nil {
		t.Fatalf("Mark: %v", err)
	}
	return marked, unknown
}

func mustNext(t testing.TB, s *Store, now time.Time, max int) ([]Claim, time.Time) {
	t.Helper()
	cs, wake, err := s.Next(now, max)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return cs, wake
}

func claimKeys(cs []Claim) []string {
	var keys []string
	for _, c := range cs {
		keys = append(keys, c.Key)
	}
	return keys
}

func far() time.Time { return time.Now().Add(time.Hour) }

func TestMarkOrderAndUnknown(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	putPages(t, s, 6)
	if m, u := mustMark(t, s, []string{"/p/3", "/p/1", "/missing", "", "bad key"}, edge.PrioritySweep); m != 2 || u != 3 {
		t.Fatalf("Mark = %d marked, %d unknown; want 2, 3", m, u)
	}
	mustMark(t, s, []string{"/p/5", "/p/4"}, edge.PriorityInvalidate)
	mustMark(t, s, []string{"/p/0"}, edge.PriorityBulk)
	mustMark(t, s, []string{"/p/2"}, edge.PriorityInvalidate)

	st := s.MarkStats()
	if st.Pending != [edge.NumPriorities]int64{0, 3, 2, 1} || st.Dropped != 0 {
		t.Fatalf("MarkStats = %+v", st)
	}
	// Most urgent first; first come, first served within a priority.
	cs, _ := mustNext(t, s, far(), 100)
	want := []string{"/p/5", "/p/4", "/p/2", "/p/3", "/p/1", "/p/0"}
	if got := claimKeys(cs); !slices.Equal(got, want) {
		t.Fatalf("Next order = %v, want %v", got, want)
	}
	if cs[0].Priority != edge.PriorityInvalidate || cs[0].MarkedAt.IsZero() || cs[0].Attempts != 0 {
		t.Errorf("claim = %+v", cs[0])
	}
	// Everything is claimed: nothing more, and no wake time.
	if cs, wake := mustNext(t, s, far(), 100); len(cs) != 0 || !wake.IsZero() {
		t.Fatalf("second Next = %v, wake %v", cs, wake)
	}
	if st := s.MarkStats(); st.Claimed != 6 {
		t.Errorf("Claimed = %d", st.Claimed)
	}
	for _, c := range cs {
		if removed, err := s.Done(c); err != nil || !removed {
			t.Fatalf("Done(%v) = %v, %v", c, removed, err)
		}
	}
}

func TestMarkMostUrgentWinsAndCollapses(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	putPages(t, s, 2)
	mustMark(t, s, []string{"/p/0"}, edge.PrioritySweep)
	mustMark(t, s, []string{"/p/0"}, edge.PriorityInvalidate)
	mustMark(t, s, []string{"/p/0"}, edge.PriorityBulk)
	st := s.MarkStats()
	if st.Pending != [edge.NumPriorities]int64{0, 1, 0, 0} || st.Collapsed != 2 {
		t.Fatalf("MarkStats = %+v, want one invalidate mark, 2 collapsed", st)
	}
	cs, _ := mustNext(t, s, far(), 10)
	if len(cs) != 1 || cs[0].Priority != edge.PriorityInvalidate {
		t.Fatalf("Next = %+v", cs)
	}
}

// A mark made again while its page is being regenerated survives the Done
// of that regeneration, and is handed out exactly once more.
func TestRemarkDuringRegeneration(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	putPages(t, s, 1)
	mustMark(t, s, []string{"/p/0"}, edge.PriorityInvalidate)
	cs, _ := mustNext(t, s, far(), 1)
	for range 1000 {
		mustMark(t, s, []string{"/p/0"}, edge.PriorityInvalidate)
	}
	if more, _ := mustNext(t, s, far(), 1); len(more) != 0 {
		t.Fatalf("a claimed page was handed out again: %+v", more)
	}
	if removed, err := s.Done(cs[0]); err != nil || removed {
		t.Fatalf("Done of an outdated claim = %v, %v; want the mark kept", removed, err)
	}
	if !mustGet(t, s, "/p/0").Stale {
		t.Fatal("page not stale after an outdated Done")
	}
	cs, _ = mustNext(t, s, far(), 10)
	if len(cs) != 1 {
		t.Fatalf("Next after the re-mark = %+v, want one claim", cs)
	}
	if removed, err := s.Done(cs[0]); err != nil || !removed {
		t.Fatalf("Done = %v, %v", removed, err)
	}
	if cs, wake := mustNext(t, s, far(), 10); len(cs) != 0 || !wake.IsZero() {
		t.Fatalf("queue not empty: %+v %v", cs, wake)
	}
	if mustGet(t, s, "/p/0").Stale {
		t.Fatal("page still stale")
	}
	if st := s.MarkStats(); st != (MarkStats{Collapsed: 1000}) {
		t.Fatalf("MarkStats = %+v", st)
	}
}

func TestRetryBackoffAndDrop(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	putPages(t, s, 2)
	mustMark(t, s, []string{"/p/0", "/p/1"}, edge.PriorityInvalidate)
	now := time.Now()
	cs, _ := mustNext(t, s, now.Add(time.Second), 1)
	retryAt := now.Add(time.Minute)
	if err := s.Retry(cs[0], retryAt); err != nil {
		t.Fatal(err)
	}
	// /p/0 waits; /p/1 is handed out.
	cs2, _ := mustNext(t, s, now.Add(time.Second), 10)
	if got := claimKeys(cs2); !slices.Equal(got, []string{"/p/1"}) {
		t.Fatalf("Next = %v", got)
	}
	s.Release(cs2[0])
	if _, err := s.Done(cs2[0]); err != nil { // Release, then a late Done: harmless
		t.Fatal(err)
	}
	cs3, wake := mustNext(t, s, now.Add(time.Second), 10)
	if len(cs3) != 0 || !wake.Equal(retryAt.UTC()) {
		t.Fatalf("Next before the backoff = %v, wake %v; want none, wake %v", cs3, wake, retryAt)
	}
	// A re-mark does not jump the backoff.
	mustMark(t, s, []string{"/p/0"}, edge.PriorityInvalidate)
	if cs3, _ := mustNext(t, s, now.Add(time.Second), 10); len(cs3) != 0 {
		t.Fatalf("a re-mark skipped the backoff: %v", cs3)
	}
	cs4, _ := mustNext(t, s, retryAt, 10)
	if len(cs4) != 1 || cs4[0].Attempts != 1 {
		t.Fatalf("Next after the backoff = %+v, want /p/0 with 1 attempt", cs4)
	}
	if err := s.Drop(cs4[0]); err != nil {
		t.Fatal(err)
	}
	if cs5, wake := mustNext(t, s, far(), 10); len(cs5) != 0 || !wake.IsZero() {
		t.Fatalf("a dropped mark was handed out: %v %v", cs5, wake)
	}
	if st := s.MarkStats(); st.Dropped != 1 || st.Pending != [edge.NumPriorities]int64{} {
		t.Fatalf("MarkStats = %+v", st)
	}
	if !mustGet(t, s, "/p/0").Stale || !s.Marked("/p/0") {
		t.Fatal("a dropped page is no longer stale")
	}
	// A new mark revives it with fresh attempts.
	mustMark(t, s, []string{"/p/0"}, edge.PrioritySweep)
	cs6, _ := mustNext(t, s, far(), 10)
	if len(cs6) != 1 || cs6[0].Attempts != 0 || cs6[0].Priority != edge.PriorityInvalidate {
		t.Fatalf("revived = %+v", cs6)
	}
	if st := s.MarkStats(); st.Dropped != 0 || st.Pending[edge.PriorityInvalidate] != 1 {
		t.Fatalf("MarkStats = %+v", st)
	}
}

func TestDeleteRemovesMark(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	putPages(t, s, 3)
	mustMark(t, s, []string{"/p/0", "/p/1", "/p/2"}, edge.PriorityInvalidate)
	cs, _ := mustNext(t, s, far(), 1)
	if err := s.Delete("/p/0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("/p/1"); err != nil {
		t.Fatal(err)
	}
	if removed, err := s.Done(cs[0]); err != nil || removed {
		t.Fatalf("Done after Delete = %v, %v", removed, err)
	}
	if s.Marked("/p/1") {
		t.Fatal("mark of a deleted page kept")
	}
	if st := s.MarkStats(); st.Pending != [edge.NumPriorities]int64{0, 1, 0, 0} {
		t.Fatalf("MarkStats = %+v", st)
	}
	cs, _ = mustNext(t, s, far(), 10)
	if got := claimKeys(cs); !slices.Equal(got, []string{"/p/2"}) {
		t.Fatalf("Next = %v", got)
	}
}

// Marks and their counters survive a reopen and an Fsck; Fsck drops the
// marks of pages whose files are gone.
func TestMarksSurviveReopenAndFsck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	keys := putPages(t, s, 5)
	mustMark(t, s, keys, edge.PriorityInvalidate)
	cs, _ := mustNext(t, s, far(), 1) // claimed when "killed": due again after
	_ = cs
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir, Options{})
	if st := s.MarkStats(); st.Pending[edge.PriorityInvalidate] != 5 || st.Claimed != 0 {
		t.Fatalf("after reopen: %+v", st)
	}
	if err := os.RemoveAll(filepath.Join(dir, "p", "3")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fsck(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.MarkStats(); st.Pending[edge.PriorityInvalidate] != 4 {
		t.Fatalf("after fsck: %+v", st)
	}
	all, _ := mustNext(t, s, far(), 100)
	if got := claimKeys(all); !slices.Equal(got, []string{"/p/0", "/p/1", "/p/2", "/p/4"}) {
		t.Fatalf("after fsck: Next = %v", got)
	}
}

// Concurrent workers never get the same mark twice.
func TestNextConcurrentClaimsAreExclusive(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	keys := putPages(t, s, 200)
	mustMark(t, s, keys, edge.PriorityInvalidate)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				cs, _, err := s.Next(far(), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(cs) == 0 {
					return
				}
				for _, c := range cs {
					mu.Lock()
					seen[c.Key]++
					mu.Unlock()
					if _, err := s.Done(c); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Fatalf("%d pages handed out, want 200", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s handed out %d times", k, n)
		}
	}
	if st := s.MarkStats(); st != (MarkStats{}) {
		t.Fatalf("MarkStats = %+v", st)
	}
}

func TestKeysWithPrefix(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	var want []string
	for i := range 1100 { // more than two read chunks
		k := fmt.Sprintf("/a/%04d", i)
		mustPut(t, s, testPage(k, 5, "v"))
		want = append(want, k)
	}
	for _, k := range []string{"/", "/a", "/ab/1", "/b/1"} {
		mustPut(t, s, testPage(k, 5, "v"))
	}
	collect := func(prefix string, limit int) []string {
		var got []string
		err := s.KeysWithPrefix(prefix, func(k string) bool { got = append(got, k); return len(got) < limit })
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := collect("/a/", 1<<30); !slices.Equal(got, want) {
		t.Fatalf("prefix /a/: %d keys, want %d", len(got), len(want))
	}
	if got := collect("/a", 1<<30); len(got) != 1102 || got[0] != "/a" || got[1101] != "/ab/1" {
		t.Fatalf("prefix /a: %d keys (%v…)", len(got), got[:2])
	}
	if got := collect("", 1<<30); len(got) != 1104 {
		t.Fatalf("all keys: %d", len(got))
	}
	if got := collect("/a/", 600); len(got) != 600 {
		t.Fatalf("stopping early: %d", len(got))
	}
	if got := collect("/zzz", 10); len(got) != 0 {
		t.Fatalf("no match: %v", got)
	}
	if !s.Has("/ab/1") || s.Has("/ab") || s.Has("") {
		t.Error("Has")
	}
}

func TestKeysGeneratedBefore(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		p := testPage(fmt.Sprintf("/g/%d", i), 5, "v")
		p.GeneratedAt = base.Add(time.Duration(i) * time.Hour)
		mustPut(t, s, p)
	}
	var got []string
	if err := s.KeysGeneratedBefore(base.Add(3*time.Hour), func(k string) bool { got = append(got, k); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"/g/0", "/g/1", "/g/2"}) {
		t.Fatalf("got %v", got)
	}
}

func TestState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.State("x"); err != nil || v != nil {
		t.Fatalf("State of nothing = %q, %v", v, err)
	}
	if err := s.SetState("x", []byte("window")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTestStore(t, dir, Options{})
	if v, _ := s.State("x"); string(v) != "window" {
		t.Fatalf("State after reopen = %q", v)
	}
	if err := s.SetState("x", nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.State("x"); v != nil {
		t.Fatalf("State after delete = %q", v)
	}
}

var sampleMarks = []*mark{
	{},
	{prio: edge.PriorityBulk, dropped: true, seq: 1<<64 - 1, markedAt: time.Unix(0, 1), notBefore: time.Unix(0, 1<<62),
		attempts: 7, source: "queue"},
}

// FuzzDecodeMark: decoding arbitrary bytes never panics, fails only with
// errBadMark, and whatever decodes re-encodes to the same mark. Seeds: the
// sample marks, each cut at every length, with a trailing byte and with an
// unknown flag or priority.
func FuzzDecodeMark(f *testing.F) {
	for _, m := range sampleMarks {
		b := m.encode()
		for n := range len(b) {
			f.Add(b[:n])
		}
		f.Add(append(b, 0))
		for _, i := range []int{1, 2} {
			bad := append([]byte(nil), b...)
			bad[i] ^= 0x40
			f.Add(bad)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMark(b)
		if err != nil {
			if !errors.Is(err, errBadMark) {
				t.Fatalf("error %v is not errBadMark", err)
			}
			return
		}
		if m.prio >= edge.NumPriorities || len(m.source) > len(b) {
			t.Fatalf("accepted %+v from %d bytes", m, len(b))
		}
		m2, err := decodeMark(m.encode())
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding changed the mark: %+v %+v %v", m, m2, err)
		}
	})
}

// BenchmarkMark measures how many marks per second the index accepts when
// they come in batches (one transaction, synced, per batch of 100).
func BenchmarkMark(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("NoSync=%v", noSync), func(b *testing.B) {
			s := newTestStore(b, Options{NoSync: true})
			keys := putPages(b, s, 10000)
			s.noSync = noSync
			s.db.NoSync = noSync
			const batch = 100
			i := 0
			for b.Loop() {
				start := (i * batch) % len(keys)
				if _, _, err := s.Mark(keys[start:start+batch], edge.PriorityInvalidate, "bench"); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "marks/s")
		})
	}
}

// BenchmarkNext measures claiming one mark (and releasing it) with 2,000
// marks pending, half of them at sweep priority and not yet due: Next reads
// the front of each priority's range, whatever the queue's length.
func BenchmarkNext(b *testing.B) {
	s := newTestStore(b, Options{NoSync: true})
	keys := putPages(b, s, 2000)
	mustMark(b, s, keys[:1000], edge.PriorityInvalidate)
	mustMark(b, s, keys[1000:], edge.PrioritySweep)
	c, _ := mustNext(b, s, far(), 1)
	if err := s.Retry(c[0], far().Add(time.Hour)); err != nil { // one held mark
		b.Fatal(err)
	}
	now := far()
	for b.Loop() {
		cs, _, err := s.Next(now, 1)
		if err != nil || len(cs) != 1 {
			b.Fatal(cs, err)
		}
		s.Release(cs[0])
	}
}
