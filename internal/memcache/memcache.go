// Package memcache owns edge's in-memory tier: a byte-bounded map from cache
// key to *edge.Page on top of ristretto's admission-controlled cache.
//
// Pages are immutable, so a hit hands out the stored pointer and its byte
// slices without copying; nothing may modify a page after Set. Writes are
// buffered by ristretto and become visible shortly after Set returns; call
// Wait in tests that need read-your-writes.
package memcache

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/pregen/edge"
)

// Config configures a Cache. Zero values choose the documented defaults.
type Config struct {
	// MaxBytes bounds the memory the cached pages may use (the sum of
	// edge.Page.Size). Zero means 256 MiB.
	MaxBytes int64
	// OnEvict, if set, is called with the key of a page that left the cache
	// (evicted for room, expired or deleted) when no other version of that
	// key is held. It may run on ristretto's goroutines and must not block.
	OnEvict func(key string)
}

// Cache is the memory tier. It is safe for concurrent use.
type Cache struct {
	c *ristretto.Cache[[]byte, *edge.Page]
	// current maps a key to the version last Set, so that the exit of an
	// older version (replaced, or refused late by admission) does not
	// report a key whose newer version is held or pending.
	current sync.Map     // string → *edge.Page
	pages   atomic.Int64 // keys in current
}

// New builds a memory tier.
func New(cfg Config) (*Cache, error) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 256 << 20
	}
	// About ten counters per page that fits, assuming small (4 KiB) pages.
	counters := max(cfg.MaxBytes/4096*10, 100_000)
	rc := &ristretto.Config[[]byte, *edge.Page]{
		NumCounters:        counters,
		MaxCost:            cfg.MaxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
	}
	m := &Cache{}
	on := cfg.OnEvict
	rc.OnExit = func(p *edge.Page) {
		if p != nil && m.current.CompareAndDelete(p.Key, p) {
			m.pages.Add(-1)
			if on != nil {
				on(p.Key)
			}
		}
	}
	c, err := ristretto.NewCache(rc)
	if err != nil {
		return nil, fmt.Errorf("memcache: %w", err)
	}
	m.c = c
	return m, nil
}

// Get returns the page stored under key. It does not allocate (ristretto
// renews a 512-byte ring buffer once per 64 Gets). A page whose
// own key differs (a 128-bit hash collision) is treated as absent.
func (m *Cache) Get(key []byte) (*edge.Page, bool) {
	p, ok := m.c.Get(key)
	if !ok || p == nil || p.Key != string(key) {
		return nil, false
	}
	return p, true
}

// Set stores p under p.Key until evicted, replacing any other version. An
// older version never wins over a later Set, even when it is still
// buffered: with concurrent Sets of one key the key may end up absent (a
// miss), never stale. It reports whether the write was accepted into
// ristretto's buffers (it may still be refused by admission).
func (m *Cache) Set(p *edge.Page) bool { return m.SetTTL(p, 0) }

// SetTTL is Set for at most ttl (zero: no limit); used for short-lived
// entries such as remembered 404s.
func (m *Cache) SetTTL(p *edge.Page, ttl time.Duration) bool {
	k := []byte(p.Key)
	if _, loaded := m.current.Swap(p.Key, p); !loaded {
		m.pages.Add(1)
	}
	// ristretto applies a buffered Set of a new key after an earlier
	// buffered Set of the same key has claimed it, so the older version
	// would win; a Delete first orders them.
	m.c.Del(k)
	return m.c.SetWithTTL(k, p, int64(p.Size()), ttl)
}

// Delete drops key.
func (m *Cache) Delete(key string) { m.c.Del([]byte(key)) }

// Clear drops every page.
func (m *Cache) Clear() { m.c.Clear() }

// Wait blocks until buffered writes are applied.
func (m *Cache) Wait() { m.c.Wait() }

// Bytes reports the cost currently held.
func (m *Cache) Bytes() int64 { return m.c.MaxCost() - m.c.RemainingCost() }

// Pages reports the number of pages held or about to be (a Set still in
// ristretto's buffers counts until it is applied or refused).
func (m *Cache) Pages() int64 { return m.pages.Load() }

// Resize changes MaxBytes (a safe config reload).
func (m *Cache) Resize(maxBytes int64) {
	if maxBytes > 0 {
		m.c.UpdateMaxCost(maxBytes)
	}
}

// Close stops ristretto's goroutines.
func (m *Cache) Close() { m.c.Close() }
