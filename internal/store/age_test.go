package store

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var ageBase = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

func putAt(t *testing.T, s *Store, key string, at time.Time, version string) {
	t.Helper()
	p := testPage(key, 64, version)
	p.GeneratedAt = at
	mustPut(t, s, p)
}

func ageKeys(t *testing.T, s *Store, after AgeEntry, before time.Time, max int) ([]string, AgeEntry) {
	t.Helper()
	es, next, err := s.AgeRange(after, before, max)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	return keys, next
}

// AgeRange walks the pages oldest first, in chunks, up to a time; a page
// regenerated meanwhile moves to its new place and a removed one is gone.
func TestAgeRangeOrderAndMoves(t *testing.T) {
	s := newTestStore(t, Options{NoSync: true})
	putAt(t, s, "/c", ageBase.Add(3*time.Hour), "v1")
	putAt(t, s, "/a", ageBase.Add(1*time.Hour), "v1")
	putAt(t, s, "/b", ageBase.Add(2*time.Hour), "v1")
	putAt(t, s, "/b2", ageBase.Add(2*time.Hour), "v1") // same time: key order
	putAt(t, s, "/d", ageBase.Add(4*time.Hour), "v1")

	keys, next := ageKeys(t, s, AgeEntry{}, ageBase.Add(4*time.Hour), 2)
	if !slices.Equal(keys, []string{"/a", "/b"}) {
		t.Fatalf("first chunk = %v", keys)
	}
	// /b2 is regenerated (unchanged body: only generated_at moves) and /c removed.
	putAt(t, s, "/b2", ageBase.Add(5*time.Hour), "v1")
	if err := s.Delete("/c"); err != nil {
		t.Fatal(err)
	}
	keys, next2 := ageKeys(t, s, next, ageBase.Add(4*time.Hour), 10)
	if len(keys) != 0 {
		t.Fatalf("second chunk = %v, want nothing before the limit", keys)
	}
	if next2 != next {
		t.Fatalf("exhausted range moved next from %v to %v", next, next2)
	}
	keys, _ = ageKeys(t, s, AgeEntry{}, ageBase.Add(24*time.Hour), 10)
	if !slices.Equal(keys, []string{"/a", "/b", "/d", "/b2"}) {
		t.Fatalf("whole index = %v", keys)
	}
	old, err := s.Oldest()
	if err != nil || !old.Equal(ageBase.Add(time.Hour)) {
		t.Fatalf("Oldest = %v, %v", old, err)
	}
}

// The age histogram counts pages by age (minute resolution) and follows
// puts, regenerations and deletes; it survives a reopen and is rebuilt for
// an index that predates it.
func TestAgesHistogram(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir, Options{NoSync: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	now := ageBase.Add(100 * time.Hour)
	for i, h := range []int{99, 99, 90, 50, 1} { // hours after ageBase
		putAt(t, s, "/p"+string(rune('a'+i)), ageBase.Add(time.Duration(h)*time.Hour+10*time.Minute), "v")
	}
	bounds := []time.Duration{2 * time.Hour, 24 * time.Hour, 72 * time.Hour}
	check := func(s *Store, want []int64, count int64) {
		t.Helper()
		st := s.Ages(now, bounds)
		if !slices.Equal(st.Cumulative, want) || st.Count != count {
			t.Fatalf("Ages = %v count %d, want %v count %d", st.Cumulative, st.Count, want, count)
		}
	}
	check(s, []int64{2, 3, 4}, 5)
	putAt(t, s, "/pe", ageBase.Add(99*time.Hour), "v") // the 99h-old page regenerated
	if err := s.Delete("/pd"); err != nil {            // the 50h-old one removed
		t.Fatal(err)
	}
	check(s, []int64{3, 4, 4}, 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, dir, Options{NoSync: true})
	check(s, []int64{3, 4, 4}, 4)
	// An index from before the age index: the buckets are built at Open.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketAges); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketAgeHist)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir, Options{NoSync: true})
	check(s, []int64{3, 4, 4}, 4)
	keys, _ := ageKeys(t, s, AgeEntry{}, now, 10)
	if !slices.Equal(keys, []string{"/pc", "/pe", "/pa", "/pb"}) {
		t.Fatalf("rebuilt age index = %v", keys)
	}
}
