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
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/pregen/edge"
)

// Config configures a Cache. Zero values choose the documented defaults.
type Config struct {
	// MaxBytes bounds the memory the cached pages may use (the sum of
	// edge.Page.Size). Zero means 256 MiB.
	MaxBytes int64
	// OnEvict, if set, is called with the key of every page that leaves the
	// cache for lack of room or because it was replaced or deleted. It runs
	// on ristretto's goroutines and must not block.
	OnEvict func(key string)
}

// Cache is the memory tier. It is safe for concurrent use.
type Cache struct {
	c *ristretto.Cache[[]byte, *edge.Page]
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
		Metrics:            true,
	}
	if cfg.OnEvict != nil {
		on := cfg.OnEvict
		rc.OnExit = func(p *edge.Page) {
			if p != nil {
				on(p.Key)
			}
		}
	}
	c, err := ristretto.NewCache(rc)
	if err != nil {
		return nil, fmt.Errorf("memcache: %w", err)
	}
	return &Cache{c: c}, nil
}

// Get returns the page stored under key. It does not allocate. A page whose
// own key differs (a 128-bit hash collision) is treated as absent.
func (m *Cache) Get(key []byte) (*edge.Page, bool) {
	p, ok := m.c.Get(key)
	if !ok || p == nil || p.Key != string(key) {
		return nil, false
	}
	return p, true
}

// Set stores p under p.Key until evicted. It reports whether the write was
// accepted into ristretto's buffers (it may still be refused by admission).
func (m *Cache) Set(p *edge.Page) bool {
	return m.c.Set([]byte(p.Key), p, int64(p.Size()))
}

// SetTTL stores p for at most ttl (used for short-lived entries such as
// remembered 404s).
func (m *Cache) SetTTL(p *edge.Page, ttl time.Duration) bool {
	return m.c.SetWithTTL([]byte(p.Key), p, int64(p.Size()), ttl)
}

// Delete drops key.
func (m *Cache) Delete(key string) { m.c.Del([]byte(key)) }

// Clear drops every page.
func (m *Cache) Clear() { m.c.Clear() }

// Wait blocks until buffered writes are applied.
func (m *Cache) Wait() { m.c.Wait() }

// Bytes reports the cost currently held.
func (m *Cache) Bytes() int64 {
	mt := m.c.Metrics
	if mt == nil {
		return 0
	}
	return int64(mt.CostAdded()) - int64(mt.CostEvicted())
}

// Pages reports the number of pages currently held.
func (m *Cache) Pages() int64 {
	mt := m.c.Metrics
	if mt == nil {
		return 0
	}
	return int64(mt.KeysAdded()) - int64(mt.KeysEvicted())
}

// Resize changes MaxBytes (a safe config reload).
func (m *Cache) Resize(maxBytes int64) {
	if maxBytes > 0 {
		m.c.UpdateMaxCost(maxBytes)
	}
}

// Close stops ristretto's goroutines.
func (m *Cache) Close() { m.c.Close() }
