package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The age index orders the pages by when they were generated, for the
// rolling sweep (oldest first) and for the age metrics:
//
//	ages     generated_at(8, big-endian Unix ns) | key → ∅
//	agehist  minute(8, big-endian Unix minutes) → count(8) of pages generated in it
//
// Both are kept in step with the pages bucket by putTx and deleteTx, in the
// same transaction. agehist is also held in memory, so the age histogram
// costs O(minutes with pages), never O(pages). An index written before the
// age index existed gets it built once, at Open.

var (
	bucketAges    = []byte("ages")
	bucketAgeHist = []byte("agehist")
)

const ageKeyPrefix = 8

// ageKey is key's entry in the ages bucket.
func ageKey(at time.Time, key string) []byte {
	b := make([]byte, ageKeyPrefix, ageKeyPrefix+len(key))
	binary.BigEndian.PutUint64(b, unixNanos(at))
	return append(b, key...)
}

// ageSlotSize is the resolution of the age histogram.
const ageSlotSize = time.Minute

// ageSlot is the histogram slot of a generation time.
func ageSlot(at time.Time) int64 {
	return int64(unixNanos(at) / uint64(ageSlotSize))
}

// ageChange is a change of one slot's count.
type ageChange struct{ slot, n int64 }

// ageCounts is the in-memory copy of agehist. Safe for concurrent use.
type ageCounts struct {
	mu    sync.Mutex      // protects slots
	slots map[int64]int64 // minute → pages generated in it
}

func (a *ageCounts) apply(cs []ageChange) {
	if len(cs) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.slots == nil {
		a.slots = make(map[int64]int64)
	}
	for _, c := range cs {
		if n := a.slots[c.slot] + c.n; n > 0 {
			a.slots[c.slot] = n
		} else {
			delete(a.slots, c.slot)
		}
	}
}

// agePutTx moves key's age entry from its previous generation time (had:
// it had a readable record) to at.
func agePutTx(tx *bolt.Tx, key string, had bool, prev, at time.Time) ([]ageChange, error) {
	ages := tx.Bucket(bucketAges)
	if had {
		if prev.Equal(at) {
			return nil, nil
		}
		if err := ages.Delete(ageKey(prev, key)); err != nil {
			return nil, err
		}
	}
	if err := ages.Put(ageKey(at, key), nil); err != nil {
		return nil, err
	}
	cs := []ageChange{{ageSlot(at), 1}}
	if had {
		cs = append(cs, ageChange{ageSlot(prev), -1})
	}
	return cs, nil
}

// ageDeleteTx removes key's age entry.
func ageDeleteTx(tx *bolt.Tx, key string, at time.Time) ([]ageChange, error) {
	if err := tx.Bucket(bucketAges).Delete(ageKey(at, key)); err != nil {
		return nil, err
	}
	return []ageChange{{ageSlot(at), -1}}, nil
}

// addAgeCounters applies cs to agehist.
func addAgeCounters(tx *bolt.Tx, cs []ageChange) error {
	h := tx.Bucket(bucketAgeHist)
	for _, c := range cs {
		k := binary.BigEndian.AppendUint64(nil, uint64(c.slot))
		n := readCounter(h, k) + c.n
		var err error
		if n > 0 {
			err = h.Put(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
		} else {
			err = h.Delete(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// initAgesTx creates the age buckets, builds them from the pages when the
// index predates them, and loads the histogram into a.
func initAgesTx(tx *bolt.Tx, a *ageCounts) error {
	build := tx.Bucket(bucketAges) == nil
	for _, name := range [][]byte{bucketAges, bucketAgeHist} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if build {
		counts := make(map[int64]int64)
		ages := tx.Bucket(bucketAges)
		err := tx.Bucket(bucketPages).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return nil // Fsck drops it
			}
			counts[ageSlot(r.GeneratedAt)]++
			return ages.Put(ageKey(r.GeneratedAt, string(k)), nil)
		})
		if err != nil {
			return err
		}
		cs := make([]ageChange, 0, len(counts))
		for h, n := range counts {
			cs = append(cs, ageChange{h, n})
		}
		if err := addAgeCounters(tx, cs); err != nil {
			return err
		}
	}
	slots := make(map[int64]int64)
	err := tx.Bucket(bucketAgeHist).ForEach(func(k, v []byte) error {
		if len(k) == 8 && len(v) == 8 {
			slots[int64(binary.BigEndian.Uint64(k))] = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	a.mu.Lock()
	a.slots = slots
	a.mu.Unlock()
	return err
}

// AgeEntry is one page of the age index: a plain value.
type AgeEntry struct {
	GeneratedAt time.Time
	Key         string
}

// AgeRange returns up to max pages generated before before, oldest first
// (ordered by generation time, then key), starting strictly after the
// entry after (the zero AgeEntry: from the oldest page). It reads only that
// range of the age index. An entry whose page was regenerated or removed
// since is not returned; next is where a following call should start (the
// last entry read, returned or not), equal to after when the range is
// exhausted.
func (s *Store) AgeRange(after AgeEntry, before time.Time, max int) (entries []AgeEntry, next AgeEntry, err error) {
	next = after
	if max <= 0 {
		return nil, next, nil
	}
	var seek []byte
	if after.Key != "" || !after.GeneratedAt.IsZero() {
		seek = ageKey(after.GeneratedAt, after.Key)
	}
	limit := unixNanos(before)
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAges).Cursor()
		pages := tx.Bucket(bucketPages)
		var k []byte
		if seek == nil {
			k, _ = c.First()
		} else if k, _ = c.Seek(seek); bytes.Equal(k, seek) {
			k, _ = c.Next()
		}
		for ; k != nil && len(entries) < max; k, _ = c.Next() {
			if len(k) <= ageKeyPrefix {
				continue
			}
			ns := binary.BigEndian.Uint64(k)
			if ns >= limit {
				break
			}
			e := AgeEntry{GeneratedAt: time.Unix(0, int64(ns)).UTC(), Key: string(k[ageKeyPrefix:])}
			next = e
			if r, err := decodeRecord(pages.Get(k[ageKeyPrefix:])); err == nil && unixNanos(r.GeneratedAt) == ns {
				entries = append(entries, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, after, fmt.Errorf("store: age range: %w", err)
	}
	return entries, next, nil
}

// Oldest returns the generation time of the oldest stored page (zero if
// there is none). It reads the front of the age index.
func (s *Store) Oldest() (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAges).Cursor()
		pages := tx.Bucket(bucketPages)
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) <= ageKeyPrefix {
				continue
			}
			ns := binary.BigEndian.Uint64(k)
			if r, err := decodeRecord(pages.Get(k[ageKeyPrefix:])); err == nil && unixNanos(r.GeneratedAt) == ns {
				t = time.Unix(0, int64(ns)).UTC()
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("store: oldest page: %w", err)
	}
	return t, nil
}

// AgeStats is a histogram of the age of the stored pages: a plain value.
type AgeStats struct {
	// Cumulative[i] counts the pages at most Bounds[i] old (Prometheus
	// style); Count is every page, Sum the sum of their ages in seconds.
	Bounds     []time.Duration
	Cumulative []int64
	Count      int64
	Sum        float64
}

// Ages returns the age histogram of the stored pages at now, with the
// given upper bounds (ascending). Ages are counted per minute of
// generation (a page's age is taken from the middle of its minute, or
// half the time since the minute began if it is the current one), so the
// cost is O(minutes with pages), whatever the number of pages.
func (s *Store) Ages(now time.Time, bounds []time.Duration) AgeStats {
	st := AgeStats{Bounds: slices.Clone(bounds), Cumulative: make([]int64, len(bounds))}
	per := make([]int64, len(bounds))
	nowNs := unixNanos(now)
	s.ages.mu.Lock()
	defer s.ages.mu.Unlock()
	for slot, n := range s.ages.slots {
		start := uint64(slot) * uint64(ageSlotSize)
		var age time.Duration
		switch {
		case nowNs >= start+uint64(ageSlotSize):
			age = time.Duration(nowNs - start - uint64(ageSlotSize/2))
		case nowNs > start:
			age = time.Duration(nowNs-start) / 2
		}
		st.Count += n
		st.Sum += float64(n) * age.Seconds()
		if i, _ := slices.BinarySearch(bounds, age); i < len(bounds) {
			per[i] += n
		}
	}
	var run int64
	for i, n := range per {
		run += n
		st.Cumulative[i] = run
	}
	return st
}
