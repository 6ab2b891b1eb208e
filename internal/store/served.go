package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"github.com/pregen/edge"
	bolt "go.etcd.io/bbolt"
)

// Last-served times order the pages for eviction (budget.go). They are
// sampled, never written once per hit: Served costs one atomic load on the
// page when the page was already reported within the last ServedEvery, and
// otherwise queues the page in a bounded, lossy buffer that Budget.Run
// writes to the index in one transaction per tick.
//
// Two buckets hold them:
//
//	served  key → last served (8 bytes, big-endian Unix seconds)
//	lru     last served (8 bytes, big-endian Unix seconds) | key → ∅
//
// Every page has exactly one entry in each (Fsck restores that): putTx gives
// a page stored for the first time its generation time, deleteTx removes
// both entries with the page, and the oldest page is the first key of lru.

var (
	bucketServed = []byte("served")
	bucketLRU    = []byte("lru")
)

// servedQueue is the capacity of the buffer between Served and the flusher;
// a page served while it is full is dropped (counted in Stats.ServedDropped)
// and reported again ServedEvery later.
const servedQueue = 4096

// servedFlushMax is the most pages one flush transaction writes.
const servedFlushMax = 1024

// Served records that p (a page read from this Store, or stored by it) was
// served to a client. It is meant for the hit path: it never blocks, never
// allocates, and costs one atomic load unless p was last reported more than
// ServedEvery ago, when p is queued for the next batched index write (or
// dropped if the queue is full). Before the Store's clock starts (Open sets
// it; Budget.Run keeps it) it does nothing. Safe for concurrent use.
func (s *Store) Served(p *edge.Page) {
	now := s.clock.Load()
	if now == 0 || !p.TouchServed(now, s.servedEvery) {
		return
	}
	select {
	case s.servedQ <- p:
	default:
		s.servedDropped.Add(1)
	}
}

// tickClock sets the coarse clock Served reads.
func (s *Store) tickClock() { s.clock.Store(s.now().Unix()) }

// drainServed moves the queued pages into batch (up to servedFlushMax).
func (s *Store) drainServed(batch []*edge.Page) []*edge.Page {
	for len(batch) < servedFlushMax {
		select {
		case p := <-s.servedQ:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// flushServed writes the last-served times of pages in one transaction.
// Pages no longer stored are skipped (an eviction or deletion is never
// undone by a late report), and so are times older than the one recorded.
func (s *Store) flushServed(pages []*edge.Page) error {
	if len(pages) == 0 {
		return nil
	}
	err := s.indexWrite(func(tx *bolt.Tx) error {
		recs, served, lru := tx.Bucket(bucketPages), tx.Bucket(bucketServed), tx.Bucket(bucketLRU)
		for _, p := range pages {
			key := []byte(p.Key)
			if recs.Get(key) == nil {
				continue
			}
			t := p.LastServed()
			old, ok := unixOf(served.Get(key))
			if ok && t <= old {
				continue
			}
			if err := setServedTx(served, lru, key, old, ok, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.servedWrites.Add(1)
	return nil
}

// setServedTx moves key's lru entry from old (if it had one) to t.
func setServedTx(served, lru *bolt.Bucket, key []byte, old int64, hadOld bool, t int64) error {
	if hadOld {
		if err := lru.Delete(lruKey(old, key)); err != nil {
			return err
		}
	}
	if err := lru.Put(lruKey(t, key), nil); err != nil {
		return err
	}
	return served.Put(key, binary.BigEndian.AppendUint64(nil, uint64(t)))
}

// servedPutTx gives a page stored for the first time (no entry yet) its
// generation time as last-served time. A page stored again keeps its time:
// regenerating a page is not serving it.
func servedPutTx(tx *bolt.Tx, key string, rec *record) error {
	served := tx.Bucket(bucketServed)
	if served.Get([]byte(key)) != nil {
		return nil
	}
	return setServedTx(served, tx.Bucket(bucketLRU), []byte(key), 0, false, rec.GeneratedAt.Unix())
}

// servedDeleteTx removes key's last-served entries.
func servedDeleteTx(tx *bolt.Tx, key string) error {
	served := tx.Bucket(bucketServed)
	t, ok := unixOf(served.Get([]byte(key)))
	if !ok {
		return nil
	}
	if err := tx.Bucket(bucketLRU).Delete(lruKey(t, []byte(key))); err != nil {
		return err
	}
	return served.Delete([]byte(key))
}

// servedOf returns key's last-served time (Unix seconds), 0 when unknown.
func servedOf(tx *bolt.Tx, key []byte) int64 {
	t, _ := unixOf(tx.Bucket(bucketServed).Get(key))
	return t
}

func lruKey(t int64, key []byte) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(key)), uint64(t))
	return append(b, key...)
}

func unixOf(v []byte) (int64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}

// LastServed returns when key's page was last recorded served (or first
// stored), and false when the store has no page for key. Reports still in
// the buffer are not counted until they are written.
func (s *Store) LastServed(key string) (time.Time, bool) {
	var t int64
	var ok bool
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPages).Get([]byte(key)) != nil {
			t, ok = unixOf(tx.Bucket(bucketServed).Get([]byte(key)))
		}
		return nil
	})
	return time.Unix(t, 0), ok
}

// fsckServed makes the last-served buckets agree with the pages: a page
// without a time gets its generation time, a time or an lru entry without
// a page (or not matching its time) is dropped. It works through each
// bucket in small transactions, so it runs beside serving. It returns the
// number of entries added or removed.
func (s *Store) fsckServed(ctx context.Context) (int, error) {
	var fixed int
	// Pages without a time.
	err := s.scanFix(ctx, bucketPages, func(tx *bolt.Tx, k, v []byte) (int, error) {
		if tx.Bucket(bucketServed).Get(k) != nil {
			return 0, nil
		}
		rec, err := decodeRecord(v)
		if err != nil {
			return 0, nil // Fsck's business (it drops or re-indexes it)
		}
		return 1, servedPutTx(tx, string(k), rec)
	}, &fixed)
	if err != nil {
		return fixed, err
	}
	// Times without a page, or without their lru entry.
	err = s.scanFix(ctx, bucketServed, func(tx *bolt.Tx, k, v []byte) (int, error) {
		served, lru := tx.Bucket(bucketServed), tx.Bucket(bucketLRU)
		t, ok := unixOf(v)
		switch {
		case tx.Bucket(bucketPages).Get(k) == nil || !ok:
			if ok {
				if err := lru.Delete(lruKey(t, k)); err != nil {
					return 0, err
				}
			}
			return 1, served.Delete(k)
		case lru.Get(lruKey(t, k)) == nil:
			return 1, lru.Put(lruKey(t, k), nil)
		}
		return 0, nil
	}, &fixed)
	if err != nil {
		return fixed, err
	}
	// lru entries that are not the page's time.
	err = s.scanFix(ctx, bucketLRU, func(tx *bolt.Tx, k, _ []byte) (int, error) {
		if len(k) > 8 {
			t, ok := unixOf(tx.Bucket(bucketServed).Get(k[8:]))
			if ok && t == int64(binary.BigEndian.Uint64(k[:8])) {
				return 0, nil
			}
		}
		return 1, tx.Bucket(bucketLRU).Delete(k)
	}, &fixed)
	return fixed, err
}

// scanFix calls fix for every entry of a bucket, fsckBatch entries per
// read-write transaction (collected first, then fixed, so fix may change
// the bucket), adding what fix reports to *count.
func (s *Store) scanFix(ctx context.Context, bucket []byte, fix func(tx *bolt.Tx, k, v []byte) (int, error), count *int) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n, seen int
		var last []byte
		err := s.indexWrite(func(tx *bolt.Tx) error {
			n, seen, last = 0, 0, nil
			type kv struct{ k, v []byte }
			var chunk []kv
			c := tx.Bucket(bucket).Cursor()
			k, v := c.Seek(after)
			if after != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && len(chunk) < fsckBatch; k, v = c.Next() {
				chunk = append(chunk, kv{bytes.Clone(k), bytes.Clone(v)})
			}
			seen = len(chunk)
			for _, e := range chunk {
				m, err := fix(tx, e.k, e.v)
				if err != nil {
					return err
				}
				n += m
			}
			if seen > 0 {
				last = chunk[len(chunk)-1].k
			}
			return nil
		})
		if err != nil {
			return err
		}
		after = last
		*count += n
		if seen < fsckBatch {
			return nil
		}
	}
}
