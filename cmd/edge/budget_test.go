package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pageBytes is what one page of the test origin costs in the store.
func pageBytes(t *testing.T, originURL string) int64 {
	t.Helper()
	e := startEdge(t, originURL, nil)
	get(t, e.URL+"/events/0")
	n := e.store.Stats().Bytes
	e.stop(t)
	return n
}

// Filling the store past store.max_bytes evicts pages (files, index and
// memory copies) down to the low-water mark, and serving never stops:
// every request is answered, an evicted page is simply generated again.
func TestStoreBudgetEvictsAndKeepsServing(t *testing.T) {
	o := startOrigin(t, page)
	per := pageBytes(t, o.URL)
	evicted := make(chan string, 1000)
	e := startEdgeMain(t, o.URL, func(c *Config) {
		c.Store.MaxBytes = ByteSize(10 * per)
	}, func(m *Main) {
		m.budgetInterval = 10 * time.Millisecond
		m.onEvict = func(key string) { evicted <- key }
	})
	for i := range 30 {
		if r := get(t, fmt.Sprintf("%s/events/%d", e.URL, i)); r.Status != 200 {
			t.Fatalf("page %d: %d", i, r.Status)
		}
	}
	// At least 20 pages must go (30 stored, 10 allowed); each check takes
	// the store down to 9.
	gone := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(gone) < 21 {
		select {
		case k := <-evicted:
			gone[k] = true
		case <-timeout:
			t.Fatalf("only %d pages evicted", len(gone))
		}
	}
	if b := e.store.Stats().Bytes; b > 10*per {
		t.Errorf("store holds %d bytes, budget %d", b, 10*per)
	}
	for k := range gone {
		if _, err := os.Stat(filepath.Join(e.Root, filepath.FromSlash(k), "index.html")); !os.IsNotExist(err) {
			t.Errorf("%s evicted but its file is still there (%v)", k, err)
		}
		if _, ok := e.memory.Get([]byte(k)); ok {
			t.Errorf("%s evicted but still in memory", k)
		}
	}
	// An evicted page is generated again on its next request.
	var k string
	for k = range gone {
		break
	}
	before := o.Hits(k)
	if r := get(t, e.URL+k); r.Status != 200 || r.Header.Get("X-Cache") != "MISS" || !strings.Contains(r.Body, "<h1>"+k+"</h1>") {
		t.Fatalf("evicted %s: %d %s", k, r.Status, r.Header.Get("X-Cache"))
	}
	if o.Hits(k) != before+1 {
		t.Errorf("evicted %s not regenerated", k)
	}
	st := e.status()
	if st.Disk.Evictions < 21 || st.Disk.MaxBytes != 10*per || st.Errors5xx != 0 {
		t.Errorf("/status disk %+v, 5xx %d", st.Disk, st.Errors5xx)
	}
	if m := get(t, e.Admin+"/metrics").Body; !strings.Contains(m, "edge_store_evictions_total ") {
		t.Error("no eviction metric")
	}
}

// The pages read most recently survive an eviction that takes most of
// the store: recency is recorded from real hits.
func TestStoreBudgetKeepsRecentlyServed(t *testing.T) {
	o := startOrigin(t, page)
	per := pageBytes(t, o.URL)
	evicted := make(chan string, 1000)
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	e := startEdgeMain(t, o.URL, func(c *Config) {
		c.Store.MaxBytes = ByteSize(30 * per)
	}, func(m *Main) {
		m.budgetInterval = 10 * time.Millisecond
		m.onEvict = func(key string) { evicted <- key }
		m.storeNow = now
	})
	for i := range 20 {
		get(t, fmt.Sprintf("%s/events/%d", e.URL, i))
	}
	// Two minutes later the five oldest pages are read (memory hits).
	mu.Lock()
	clock = clock.Add(2 * time.Minute)
	mu.Unlock()
	// Each is reported once the budget's clock has ticked past the jump.
	for i := range 5 {
		key := fmt.Sprintf("/events/%d", i)
		eventually(t, 10*time.Second, key+" recorded as served now", func() bool {
			if r := get(t, e.URL+key); r.Header.Get("X-Cache") != "HIT" {
				t.Fatalf("%s: %s", key, r.Header.Get("X-Cache"))
			}
			at, _ := e.store.LastServed(key)
			return !at.Before(now().Add(-time.Second))
		})
	}
	// 15 more pages: 35 pages for a budget of 30, so at least 8 go.
	for i := 20; i < 35; i++ {
		get(t, fmt.Sprintf("%s/events/%d", e.URL, i))
	}
	var gone []string
	timeout := time.After(30 * time.Second)
	for len(gone) < 8 {
		select {
		case k := <-evicted:
			gone = append(gone, k)
		case <-timeout:
			t.Fatalf("only %v evicted", gone)
		}
	}
	for _, k := range gone {
		for i := range 5 {
			if k == fmt.Sprintf("/events/%d", i) {
				t.Errorf("%s was served two minutes after the others but evicted first (evicted: %v)", k, gone)
			}
		}
	}
	for i := range 5 {
		if r := get(t, fmt.Sprintf("%s/events/%d", e.URL, i)); r.Header.Get("X-Cache") != "HIT" {
			t.Errorf("/events/%d: %s after eviction, want HIT", i, r.Header.Get("X-Cache"))
		}
	}
}
