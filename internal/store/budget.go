package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pregen/edge"
	bolt "go.etcd.io/bbolt"
)

// Budget keeps a Store within its size budget and records when its pages
// are served. Its Run writes the last-served times Store.Served buffers (one
// transaction per Interval) and, when the store's bytes exceed MaxBytes or
// the file system's free bytes drop under MinFreeBytes, evicts the least
// recently served pages (all their files and index entries, as Delete
// does) in batches until the store is under its low-water mark: 90% of
// MaxBytes, and MinFreeBytes plus a tenth free.
//
// Set the fields, then call Run once; do not change them afterwards. Stats
// is safe for concurrent use.
type Budget struct {
	// Store is the store to bound. Required.
	Store *Store
	// MaxBytes bounds the bytes of stored pages (Stats.Bytes: every
	// variant, sidecars and directories excluded). Zero: no bound.
	MaxBytes int64
	// MinFreeBytes is the free space to keep on the store's file system.
	// Zero: free space is not watched.
	MinFreeBytes int64
	// Interval is how often the budget is checked and last-served times
	// are written. If zero, one second.
	Interval time.Duration
	// OnEvict is called with the key of each evicted page after it is
	// gone from disk, so that the memory tier drops its copy. It must not
	// block for long. Nil: nobody is told.
	OnEvict func(key string)
	// Logger receives eviction summaries and errors. If nil, the Store's.
	Logger *slog.Logger

	evictions    atomic.Int64
	evictedBytes atomic.Int64
	freeBytes    atomic.Int64 // last seen; -1 unknown

	// freeFn reports the free bytes of the store's file system; tests
	// replace it.
	freeFn func() (int64, error)
}

// BudgetStats are the Budget's counters (a snapshot).
type BudgetStats struct {
	Evictions    int64 // pages evicted since Run started
	EvictedBytes int64 // their bytes (Stats.Bytes)
	FreeBytes    int64 // free bytes of the file system at the last check; -1 unknown or not watched
}

// Stats returns the counters. Safe for concurrent use.
func (b *Budget) Stats() BudgetStats {
	return BudgetStats{
		Evictions: b.evictions.Load(), EvictedBytes: b.evictedBytes.Load(), FreeBytes: b.freeBytes.Load(),
	}
}

// evictBatch is how many pages one eviction transaction removes.
const evictBatch = 128

func (b *Budget) interval() time.Duration {
	if b.Interval <= 0 {
		return time.Second
	}
	return b.Interval
}

func (b *Budget) log() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return b.Store.log
}

// Run records last-served times and enforces the budget until ctx is done;
// it then writes the times still buffered and returns nil. Eviction runs
// on its own goroutine, so a long eviction never holds up the recording.
func (b *Budget) Run(ctx context.Context) error {
	if b.freeFn == nil {
		dir := b.Store.dir
		b.freeFn = func() (int64, error) { return diskFree(dir) }
	}
	b.freeBytes.Store(-1)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(b.interval())
		defer t.Stop()
		for {
			b.enforce(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	b.record(ctx)
	wg.Wait()
	return nil
}

// record ticks the Store's clock and writes the buffered last-served
// times, once per interval or whenever a full batch is waiting.
func (b *Budget) record(ctx context.Context) {
	s := b.Store
	t := time.NewTicker(b.interval())
	defer t.Stop()
	batch := make([]*edge.Page, 0, servedFlushMax)
	flush := func() {
		for {
			batch = s.drainServed(batch[:0])
			if len(batch) == 0 {
				return
			}
			if err := s.flushServed(batch); err != nil {
				b.log().Warn("store: recording last-served times", "pages", len(batch), "err", err)
			}
			clear(batch) // let the pages go
			if len(batch) < servedFlushMax {
				return
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return
		case <-t.C:
			s.tickClock()
			flush()
		}
	}
}

// excess returns how many bytes must go for the store to be back under its
// low-water mark, 0 when it is under its high-water mark.
func (b *Budget) excess() int64 {
	var need int64
	if used := b.Store.bytes.Load(); b.MaxBytes > 0 && used > b.MaxBytes {
		need = used - b.MaxBytes/10*9
	}
	if b.MinFreeBytes > 0 {
		free, err := b.freeFn()
		if err != nil {
			b.log().Warn("store: reading free space", "err", err)
			return need
		}
		b.freeBytes.Store(free)
		if free < b.MinFreeBytes {
			need = max(need, b.MinFreeBytes+b.MinFreeBytes/10-free)
		}
	}
	return need
}

// enforce evicts least recently served pages until the excess is gone (or
// the store is empty, or ctx is done).
func (b *Budget) enforce(ctx context.Context) {
	need := b.excess()
	if need <= 0 {
		return
	}
	start := time.Now()
	var pages, freed int64
	for freed < need && ctx.Err() == nil {
		cands, err := b.Store.oldest(evictBatch)
		if err != nil {
			b.log().Warn("store: eviction", "err", err)
			break
		}
		if len(cands) == 0 {
			break
		}
		keys, n, err := b.Store.evict(cands, need-freed)
		pages += int64(len(keys))
		freed += n
		b.evictions.Add(int64(len(keys)))
		b.evictedBytes.Add(n)
		if b.OnEvict != nil {
			for _, k := range keys {
				b.OnEvict(k)
			}
		}
		if err != nil {
			b.log().Warn("store: eviction", "err", err)
			break
		}
	}
	b.log().Info("store: evicted least recently served pages", "pages", pages, "bytes", freed,
		"wanted", need, "took", time.Since(start).Round(time.Millisecond))
}

// lruEntry is one eviction candidate: a key and the last-served time it
// had when chosen.
type lruEntry struct {
	key    string
	served int64
}

// oldest returns up to n least recently served pages, oldest first.
func (s *Store) oldest(n int) ([]lruEntry, error) {
	var out []lruEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLRU).Cursor()
		for k, _ := c.First(); k != nil && len(out) < n; k, _ = c.Next() {
			if len(k) <= 8 {
				continue // Fsck removes it
			}
			out = append(out, lruEntry{string(k[8:]), int64(binary.BigEndian.Uint64(k[:8]))})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading the lru index: %w", err)
	}
	return out, nil
}

// evict removes the pages of cands that were not served since they were
// chosen: their files (sidecar first, without syncing directories: a page
// an outage brings back is only a file without an index entry, which Fsck
// re-indexes) and, in one transaction, their index entries through
// deleteTx. The writer locks of every candidate are held throughout, taken
// in stripe order, so no Put of these keys interleaves and a reader that
// finds a file missing waits and then finds no record. It stops once the
// pages chosen hold want bytes, and returns the keys evicted and their
// bytes.
func (s *Store) evict(cands []lruEntry, want int64) (evicted []string, freed int64, err error) {
	var stripes []int
	for _, c := range cands {
		stripes = append(stripes, stripe(c.key))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		s.locks[i].Lock()
	}
	defer func() {
		for _, i := range stripes {
			s.locks[i].Unlock()
		}
	}()

	// Still the least recently served? A page served (and recorded) since
	// it was chosen has moved in the lru index and stays. An lru entry
	// that does not match its page's time, or has no page, is dropped.
	var stray []lruEntry
	err = s.db.View(func(tx *bolt.Tx) error {
		pages, lru := tx.Bucket(bucketPages), tx.Bucket(bucketLRU)
		var chosen int64
		for _, c := range cands {
			if chosen >= want {
				break
			}
			k := []byte(c.key)
			v := pages.Get(k)
			switch {
			case lru.Get(lruKey(c.served, k)) == nil:
				// served (or removed) since it was chosen
			case v == nil || servedOf(tx, k) != c.served:
				stray = append(stray, c)
			default:
				evicted = append(evicted, c.key)
				if rec, err := decodeRecord(v); err == nil {
					chosen += rec.bytes()
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: evict: %w", err)
	}

	var errs []error
	for _, key := range evicted {
		if err := s.removeFiles(key); err != nil {
			errs = append(errs, err)
		}
	}
	var d delta
	err = s.indexWrite(func(tx *bolt.Tx) error {
		d = delta{}
		for _, key := range evicted {
			kd, err := deleteTx(tx, key)
			if err != nil {
				return err
			}
			d.add(kd)
		}
		for _, c := range stray {
			if tx.Bucket(bucketPages).Get([]byte(c.key)) == nil {
				if err := servedDeleteTx(tx, c.key); err != nil {
					return err
				}
			}
			if err := tx.Bucket(bucketLRU).Delete(lruKey(c.served, []byte(c.key))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.writeErrors.Add(1)
		return nil, 0, fmt.Errorf("store: evict: index: %w", err)
	}
	s.account(d)
	if len(errs) > 0 {
		s.writeErrors.Add(1)
		return evicted, -d.bytes, fmt.Errorf("store: evict: %w", errs[0])
	}
	return evicted, -d.bytes, nil
}

// removeFiles removes a page's files, sidecar first, and its directory if
// that is now empty, without syncing anything. The directory is resolved
// once.
func (s *Store) removeFiles(key string) error {
	dir, err := pageDir(key)
	if err != nil {
		return nil // no files: the index entry still goes
	}
	pd := s.root
	if dir != "." {
		if pd, err = s.root.OpenRoot(dir); err != nil {
			if isAbsent(err) {
				return nil
			}
			return err
		}
		defer pd.Close()
	}
	var errs []error
	for _, name := range []string{fileMeta, fileBody, fileGzip, fileBrotli} {
		if err := pd.Remove(name); err != nil && !isAbsent(err) {
			errs = append(errs, err)
		}
	}
	if dir != "." {
		_ = s.root.Remove(dir) // only if empty
	}
	return errors.Join(errs...)
}
