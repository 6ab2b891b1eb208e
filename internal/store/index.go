package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the index database.
var (
	bucketPages = []byte("pages") // key → encoded record
	bucketTags  = []byte("tags")  // tag "\x00" key → empty
	bucketMeta  = []byte("meta")  // counters
	counterPgs  = []byte("pages")
	counterByt  = []byte("bytes")
)

// delta is a change of the page, byte and mark counters made by one
// transaction.
type delta struct {
	pages, bytes int64
	marks        markDelta
	ages         []ageChange // age histogram (age.go)
}

func (d *delta) add(o delta) {
	d.pages += o.pages
	d.bytes += o.bytes
	d.marks.add(o.marks)
	d.ages = append(d.ages, o.ages...)
}

// indexWrite runs fn in a read-write transaction. A writer alone runs its
// own transaction at once; writers that overlap share one through db.Batch,
// so concurrent Puts pay for one commit (and its fsync) together. fn may run
// more than once and must be idempotent.
func (s *Store) indexWrite(fn func(*bolt.Tx) error) error {
	defer s.writers.Add(-1)
	if s.writers.Add(1) > 1 {
		return s.db.Batch(fn)
	}
	return s.db.Update(fn)
}

// lookup returns the record of key, or nil if it has none, with Stale set
// when the page has a stale mark (the record's own stale flag is a legacy
// of older indexes and ignored). raw is a copy of the encoded record (for
// compare-and-swap writes), returned even when it does not decode (err
// wraps errBadRecord then).
func (s *Store) lookup(key string) (rec *record, raw []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPages).Get([]byte(key))
		if v == nil {
			return nil
		}
		raw = bytes.Clone(v)
		if rec, err = decodeRecord(raw); err != nil {
			return err
		}
		rec.Stale = tx.Bucket(bucketMarks).Get([]byte(key)) != nil
		rec.served = servedOf(tx, []byte(key))
		return nil
	})
	if err != nil {
		return nil, raw, fmt.Errorf("store: index lookup %q: %w", key, err)
	}
	return rec, raw, nil
}

// putTx stores rec under key, replacing the tag entries of the previous
// record, and returns the counter change.
func putTx(tx *bolt.Tx, key string, rec *record) (delta, error) {
	pages, tags := tx.Bucket(bucketPages), tx.Bucket(bucketTags)
	var d delta
	var oldTags []string
	var oldAt time.Time
	hadOld := false
	if v := pages.Get([]byte(key)); v != nil {
		if old, err := decodeRecord(v); err == nil {
			oldTags = old.Tags
			d.bytes -= old.bytes()
			oldAt, hadOld = old.GeneratedAt, true
		}
	} else {
		d.pages = 1
	}
	d.bytes += rec.bytes()
	for _, t := range oldTags {
		if !slices.Contains(rec.Tags, t) {
			if err := tags.Delete(tagKey(t, key)); err != nil {
				return delta{}, err
			}
		}
	}
	for _, t := range rec.Tags {
		if !slices.Contains(oldTags, t) {
			if err := tags.Put(tagKey(t, key), nil); err != nil {
				return delta{}, err
			}
		}
	}
	stored := *rec
	stored.Stale = false // the stale mark lives in the marks bucket, never in the record
	if err := pages.Put([]byte(key), stored.encode()); err != nil {
		return delta{}, err
	}
	if err := servedPutTx(tx, key, rec); err != nil {
		return delta{}, err
	}
	var err error
	if d.ages, err = agePutTx(tx, key, hadOld, oldAt, rec.GeneratedAt); err != nil {
		return delta{}, err
	}
	return d, addCounters(tx, d)
}

// deleteTx removes key's record, tag entries and stale mark and returns the
// counter change (zero if key had no record).
func deleteTx(tx *bolt.Tx, key string) (delta, error) {
	pages, tags := tx.Bucket(bucketPages), tx.Bucket(bucketTags)
	v := pages.Get([]byte(key))
	if v == nil {
		return delta{}, nil
	}
	d := delta{pages: -1}
	md, err := unmarkTx(tx, key)
	if err != nil {
		return delta{}, err
	}
	d.marks = md
	if old, err := decodeRecord(v); err == nil {
		d.bytes = -old.bytes()
		if d.ages, err = ageDeleteTx(tx, key, old.GeneratedAt); err != nil {
			return delta{}, err
		}
		for _, t := range old.Tags {
			if err := tags.Delete(tagKey(t, key)); err != nil {
				return delta{}, err
			}
		}
	}
	if err := pages.Delete([]byte(key)); err != nil {
		return delta{}, err
	}
	if err := servedDeleteTx(tx, key); err != nil {
		return delta{}, err
	}
	return d, addCounters(tx, d)
}

func addCounters(tx *bolt.Tx, d delta) error {
	m := tx.Bucket(bucketMeta)
	put := func(name []byte, add int64) error {
		if add == 0 {
			return nil
		}
		n := readCounter(m, name) + add
		return m.Put(name, binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	if err := put(counterPgs, d.pages); err != nil {
		return err
	}
	if err := put(counterByt, d.bytes); err != nil {
		return err
	}
	for i, name := range counterMarks {
		if err := put(name, d.marks[i]); err != nil {
			return err
		}
	}
	return addAgeCounters(tx, d.ages)
}

func readCounter(m *bolt.Bucket, name []byte) int64 {
	v := m.Get(name)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func tagKey(tag, key string) []byte {
	b := make([]byte, 0, len(tag)+1+len(key))
	b = append(b, tag...)
	b = append(b, 0)
	return append(b, key...)
}

// initIndex creates the buckets and loads the counters. It reports whether
// the last-served buckets were missing from an index holding pages (one
// written by an older edge), which Open then fills in.
func (s *Store) initIndex() (backfill bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		backfill = tx.Bucket(bucketServed) == nil && tx.Bucket(bucketPages) != nil
		for _, name := range [][]byte{bucketPages, bucketTags, bucketMeta, bucketMarks, bucketMarkQ, bucketState, bucketServed, bucketLRU} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		s.pages.Store(readCounter(m, counterPgs))
		s.bytes.Store(readCounter(m, counterByt))
		for i, name := range counterMarks {
			s.markCounts[i].Store(readCounter(m, name))
		}
		return initAgesTx(tx, &s.ages)
	})
	return backfill, err
}

// casOp is one compare-and-swap index change applied by Fsck: it takes
// effect only if key's encoded record still equals expect (nil: absent).
type casOp struct {
	key    string
	expect []byte
	rec    *record // nil: delete
}

// applyCAS applies ops in one transaction and returns how many took effect.
func (s *Store) applyCAS(ops []casOp) (int, error) {
	var n int
	var d delta
	err := s.indexWrite(func(tx *bolt.Tx) error {
		n, d = 0, delta{}
		pages := tx.Bucket(bucketPages)
		for _, op := range ops {
			if !bytes.Equal(pages.Get([]byte(op.key)), op.expect) {
				continue
			}
			var od delta
			var err error
			if op.rec == nil {
				od, err = deleteTx(tx, op.key)
			} else {
				od, err = putTx(tx, op.key, op.rec)
			}
			if err != nil {
				return err
			}
			d.add(od)
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: index update: %w", err)
	}
	s.account(d)
	return n, nil
}

func (s *Store) account(d delta) {
	s.pages.Add(d.pages)
	s.bytes.Add(d.bytes)
	for i, n := range d.marks {
		if n != 0 {
			s.markCounts[i].Add(n)
		}
	}
	s.ages.apply(d.ages)
}
