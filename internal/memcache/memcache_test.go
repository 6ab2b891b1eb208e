package memcache

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pregen/edge"
)

// newTestCache builds a cache and closes it at cleanup.
func newTestCache(t testing.TB, cfg Config) *Cache {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// page returns a finished page under key with an n-byte body.
func page(key string, n int) *edge.Page {
	body := make([]byte, n)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	return (&edge.Page{Key: key, Status: 200, ContentType: "text/html", Body: body, ETag: `"e"`}).Finish()
}

// evictions records the keys OnEvict is called with; OnEvict runs on
// ristretto's goroutines.
type evictions struct {
	mu   sync.Mutex // protects keys
	keys []string
}

func (e *evictions) add(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys = append(e.keys, key)
}

func (e *evictions) count(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, k := range e.keys {
		if k == key {
			n++
		}
	}
	return n
}

func (e *evictions) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.keys)
}

func TestSetGet(t *testing.T) {
	m := newTestCache(t, Config{MaxBytes: 1 << 20})
	p := page("www.example.com/a", 100)
	if !m.Set(p) {
		t.Fatal("Set = false, want true")
	}
	m.Wait()
	got, ok := m.Get([]byte("www.example.com/a"))
	if !ok || got != p {
		t.Errorf("Get = %p, %v; want the stored pointer %p, true", got, ok, p)
	}
}

func TestGetUnknown(t *testing.T) {
	m := newTestCache(t, Config{MaxBytes: 1 << 20})
	m.Set(page("a", 10))
	m.Wait()
	for _, key := range []string{"b", "", "A", "a "} {
		if got, ok := m.Get([]byte(key)); ok || got != nil {
			t.Errorf("Get(%q) = %p, %v; want nil, false", key, got, ok)
		}
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	m := newTestCache(t, Config{MaxBytes: 1 << 20})
	m.Set(page("www.example.com/hit", 100))
	m.Wait()
	hit, miss := []byte("www.example.com/hit"), []byte("www.example.com/miss")
	for _, key := range [][]byte{hit, miss} {
		if n := testing.AllocsPerRun(1000, func() { m.Get(key) }); n != 0 {
			t.Errorf("Get(%q) allocates %v times per call, want 0", key, n)
		}
	}
}

func TestDelete(t *testing.T) {
	var ev evictions
	m := newTestCache(t, Config{MaxBytes: 1 << 20, OnEvict: ev.add})
	m.Set(page("a", 100))
	m.Set(page("b", 100))
	m.Wait()
	m.Delete("a")
	if _, ok := m.Get([]byte("a")); ok {
		t.Error("Get(a) right after Delete = true, want false")
	}
	m.Wait()
	if _, ok := m.Get([]byte("a")); ok {
		t.Error("Get(a) after Delete and Wait = true, want false")
	}
	if _, ok := m.Get([]byte("b")); !ok {
		t.Error("Get(b) = false, want true: Delete(a) removed another key")
	}
	if n := ev.count("a"); n != 1 {
		t.Errorf("OnEvict(a) called %d times for one Delete, want 1 (all calls %q)", n, ev.all())
	}
	if n := ev.count("b"); n != 0 {
		t.Errorf("OnEvict(b) called %d times, want 0", n)
	}
	m.Delete("never-stored") // must not call OnEvict or panic
	m.Wait()
	if n := len(ev.all()); n != 1 {
		t.Errorf("OnEvict calls = %q, want only a", ev.all())
	}
}

func TestReplace(t *testing.T) {
	var ev evictions
	m := newTestCache(t, Config{MaxBytes: 1 << 20, OnEvict: ev.add})
	old, repl := page("k", 100), page("k", 300)
	m.Set(old)
	m.Wait()
	m.Set(repl)
	m.Wait()
	if got, ok := m.Get([]byte("k")); !ok || got != repl {
		t.Errorf("Get after replacing = %p, %v; want the new page %p", got, ok, repl)
	}
	// The key is still held (by its new version): nothing to report.
	if n := ev.count("k"); n != 0 {
		t.Errorf("OnEvict(k) called %d times on replace, want 0", n)
	}
	if got, want := m.Bytes(), int64(repl.Size()); got != want {
		t.Errorf("Bytes = %d after replacing, want %d", got, want)
	}
	if got := m.Pages(); got != 1 {
		t.Errorf("Pages = %d after replacing, want 1", got)
	}
	m.Delete("k")
	m.Wait()
	if n := ev.count("k"); n != 1 {
		t.Errorf("OnEvict(k) called %d times after Delete, want 1", n)
	}
}

// Two quick Sets of a new key: the older version never wins (the key ends
// with the newer version, or, when ristretto's buffers interleave, with
// none — a miss, never a stale copy), and its exit reports nothing while
// the newer version is held.
func TestLastSetWins(t *testing.T) {
	var ev evictions
	m := newTestCache(t, Config{MaxBytes: 1 << 20, OnEvict: ev.add})
	held := 0
	for i := range 200 {
		key := fmt.Sprintf("k%d", i)
		v1, v2 := page(key, 100), page(key, 120)
		m.Set(v1)
		m.Set(v2)
		m.Wait()
		got, ok := m.Get([]byte(key))
		switch {
		case ok && got == v1:
			t.Fatalf("%s: the older version won", key)
		case ok:
			held++
			if n := ev.count(key); n != 0 {
				t.Fatalf("%s: OnEvict called %d times while a version is held", key, n)
			}
		case ev.count(key) != 1:
			t.Fatalf("%s: absent but OnEvict called %d times, want 1", key, ev.count(key))
		}
	}
	if held == 0 {
		t.Fatal("no key held its newer version")
	}
	if got := m.Pages(); got != int64(held) {
		t.Fatalf("Pages = %d, want %d", got, held)
	}
}

func TestSetTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := New(Config{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		defer m.Close()
		short, forever := page("www.example.com/404", 10), page("www.example.com/", 10)
		m.SetTTL(short, 10*time.Second)
		m.Set(forever)
		m.Wait()

		time.Sleep(9 * time.Second)
		if got, ok := m.Get([]byte(short.Key)); !ok || got != short {
			t.Errorf("Get before the TTL = %p, %v; want the page", got, ok)
		}
		time.Sleep(2 * time.Second)
		if got, ok := m.Get([]byte(short.Key)); ok {
			t.Errorf("Get after the TTL = %p, true; want false", got)
		}
		time.Sleep(time.Hour)
		if got, ok := m.Get([]byte(forever.Key)); !ok || got != forever {
			t.Errorf("Get of a page set without TTL after an hour = %p, %v; want the page", got, ok)
		}
	})
}

func TestEvictionCallsOnEvict(t *testing.T) {
	const maxBytes, n = 64 << 10, 200
	var ev evictions
	m := newTestCache(t, Config{MaxBytes: maxBytes, OnEvict: ev.add})
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("www.example.com/p/%d", i)
		m.Set(page(keys[i], 2000))
		m.Wait()
	}
	if got := m.Bytes(); got > maxBytes {
		t.Errorf("Bytes = %d, want at most MaxBytes %d", got, maxBytes)
	}
	evicted := map[string]bool{}
	for _, k := range ev.all() {
		evicted[k] = true
	}
	if len(evicted) == 0 {
		t.Fatalf("OnEvict never called after storing %d pages of ~2 KiB in %d bytes", n, maxBytes)
	}
	kept := 0
	for _, k := range keys {
		_, ok := m.Get([]byte(k))
		switch {
		case ok:
			kept++
		case !evicted[k]:
			t.Errorf("%s left the cache without OnEvict", k)
		}
	}
	if kept == 0 || int64(kept) != m.Pages() {
		t.Errorf("%d pages readable, Pages() = %d; want the same, non-zero", kept, m.Pages())
	}
	for k := range evicted {
		if !slices.Contains(keys, k) {
			t.Errorf("OnEvict called with unknown key %q", k)
		}
	}
}

func TestBytesPages(t *testing.T) {
	m := newTestCache(t, Config{MaxBytes: 1 << 20})
	if b, p := m.Bytes(), m.Pages(); b != 0 || p != 0 {
		t.Fatalf("empty cache: Bytes %d, Pages %d; want 0, 0", b, p)
	}
	var want int64
	for i := range 3 {
		p := page(fmt.Sprintf("k%d", i), 1000*(i+1))
		want += int64(p.Size())
		m.Set(p)
	}
	m.Wait()
	if b, p := m.Bytes(), m.Pages(); b != want || p != 3 {
		t.Errorf("after 3 Sets: Bytes %d, Pages %d; want %d, 3", b, p, want)
	}
	m.Delete("k0")
	m.Wait()
	want -= int64(page("k0", 1000).Size())
	if b, p := m.Bytes(), m.Pages(); b != want || p != 2 {
		t.Errorf("after Delete: Bytes %d, Pages %d; want %d, 2", b, p, want)
	}
	m.Clear()
	if _, ok := m.Get([]byte("k1")); ok {
		t.Error("Get after Clear = true, want false")
	}
	if b, p := m.Bytes(), m.Pages(); b != 0 || p != 0 {
		t.Errorf("after Clear: Bytes %d, Pages %d; want 0, 0", b, p)
	}
}

func TestResizeGrow(t *testing.T) {
	m := newTestCache(t, Config{MaxBytes: 16 << 10})
	big := page("big", 32<<10)
	m.Set(big)
	m.Wait()
	if _, ok := m.Get([]byte("big")); ok {
		t.Fatalf("a %d-byte page was admitted into a 16 KiB cache", big.Size())
	}
	m.Resize(1 << 20)
	m.Set(big)
	m.Wait()
	if got, ok := m.Get([]byte("big")); !ok || got != big {
		t.Errorf("Get after Resize(1 MiB) = %p, %v; want the page", got, ok)
	}
}

func TestResizeShrink(t *testing.T) {
	const small = 16 << 10
	m := newTestCache(t, Config{MaxBytes: 1 << 20})
	for i := range 20 {
		m.Set(page(fmt.Sprintf("k%d", i), 4000))
	}
	m.Wait()
	if got := m.Pages(); got != 20 {
		t.Fatalf("Pages = %d, want 20", got)
	}
	m.Resize(small)
	m.Set(page("new", 4000))
	m.Wait()
	if got := m.Bytes(); got > small {
		t.Errorf("Bytes = %d after Resize(%d) and a Set, want at most %d", got, small, small)
	}
}

func TestResizeIgnoresNonPositive(t *testing.T) {
	m := newTestCache(t, Config{MaxBytes: 1 << 20})
	m.Resize(0)
	m.Resize(-5)
	p := page("k", 64<<10)
	m.Set(p)
	m.Wait()
	if got, ok := m.Get([]byte("k")); !ok || got != p {
		t.Errorf("Get after Resize(0), Resize(-5) = %p, %v; want the page (size unchanged)", got, ok)
	}
}

func TestNewDefaults(t *testing.T) {
	m := newTestCache(t, Config{})
	p := page("k", 8<<20) // fits only in the 256 MiB default
	m.Set(p)
	m.Wait()
	if got, ok := m.Get([]byte("k")); !ok || got != p {
		t.Errorf("Get of an 8 MiB page with default MaxBytes = %p, %v; want the page", got, ok)
	}
}

// TestConcurrent mixes Set, Get and Delete; run it with -race.
func TestConcurrent(t *testing.T) {
	var ev evictions
	m := newTestCache(t, Config{MaxBytes: 256 << 10, OnEvict: ev.add})
	pages := make([]*edge.Page, 64)
	for i := range pages {
		pages[i] = page(fmt.Sprintf("k%d", i), 1000+i)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				p := pages[(w*7+i)%len(pages)]
				switch i % 5 {
				case 0:
					m.Set(p)
				case 1:
					m.Delete(p.Key)
				default:
					if got, ok := m.Get([]byte(p.Key)); ok && got.Key != p.Key {
						t.Errorf("Get(%s) returned page %s", p.Key, got.Key)
					}
				}
			}
		})
	}
	wg.Wait()
	m.Wait()
}

func BenchmarkMemcacheGet(b *testing.B) {
	m := newTestCache(b, Config{MaxBytes: 64 << 20})
	m.Set(page("www.example.com/products/widget?color=blue", 16<<10))
	m.Wait()
	key := []byte("www.example.com/products/widget?color=blue")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := m.Get(key); !ok {
			b.Fatal("miss")
		}
	}
}
