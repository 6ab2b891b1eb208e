package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/fault"
	bolt "go.etcd.io/bbolt"
)

// Stale marks are the local work queue of regeneration: an accepted
// invalidation is durable once its marks are committed, a page marked twice
// is still one mark, and after a crash the workers resume from the marks.
//
// Two buckets hold them:
//
//	marks  key → mark record (priority, seq, marked_at, not_before, attempts,
//	       dropped flag, source)
//	markq  priority(1) | not_before(8, big-endian Unix ns) | seq(8) | key → ∅
//
// markq holds one entry per pending (not dropped) mark, so Next reads the due
// marks of a priority in (not_before, seq) order from the front of its range
// and stops at the first one not yet due: it never scans the whole queue.
//
// Claims (marks handed to a worker by Next and not yet settled) live only in
// memory: after a crash every mark is simply due again.

var (
	bucketMarks = []byte("marks")
	bucketMarkQ = []byte("markq")
	bucketState = []byte("state")
)

// counterMarks are the meta counters of pending marks per priority and,
// last, of dropped marks.
var counterMarks = func() (c [edge.NumPriorities + 1][]byte) {
	for p := range edge.NumPriorities {
		c[p] = []byte("marks." + p.String())
	}
	c[edge.NumPriorities] = []byte("marks.dropped")
	return c
}()

// markDelta is a change of the mark counters: pending per priority, then
// dropped.
type markDelta [edge.NumPriorities + 1]int64

func (d *markDelta) add(o markDelta) {
	for i := range d {
		d[i] += o[i]
	}
}

// mark is the decoded record of one stale mark.
type mark struct {
	prio      edge.Priority
	dropped   bool
	seq       uint64
	markedAt  time.Time // the latest mark
	notBefore time.Time // not handed out before this time
	attempts  int       // failed regenerations since the mark was (re)made
	source    string    // who made the latest mark
}

const (
	markVersion     = 1
	markFlagDropped = 1 << 0
	markQKeyPrefix  = 1 + 8 + 8
)

func (m *mark) encode() []byte {
	b := make([]byte, 0, 32+len(m.source))
	var flags byte
	if m.dropped {
		flags |= markFlagDropped
	}
	b = append(b, markVersion, flags, byte(m.prio))
	b = binary.AppendUvarint(b, m.seq)
	b = binary.AppendVarint(b, m.markedAt.UnixNano())
	b = binary.AppendVarint(b, m.notBefore.UnixNano())
	b = binary.AppendUvarint(b, uint64(m.attempts))
	return appendString(b, m.source)
}

var errBadMark = errors.New("store: corrupt mark record")

// decodeMark parses a mark record; it never panics and copies what it keeps.
func decodeMark(b []byte) (*mark, error) {
	if len(b) < 3 || b[0] != markVersion || b[1]&^markFlagDropped != 0 || b[2] >= byte(edge.NumPriorities) {
		return nil, errBadMark
	}
	m := &mark{prio: edge.Priority(b[2]), dropped: b[1]&markFlagDropped != 0}
	d := decoder{b: b[3:]}
	m.seq = d.uvarint()
	at := d.varint()
	nb := d.varint()
	attempts := d.uvarint()
	m.source = d.string()
	if d.err || len(d.b) != 0 || attempts > 1<<20 {
		return nil, errBadMark
	}
	m.markedAt, m.notBefore = time.Unix(0, at).UTC(), time.Unix(0, nb).UTC()
	m.attempts = int(attempts)
	return m, nil
}

// queueKey is m's entry in markq.
func (m *mark) queueKey(key string) []byte {
	b := make([]byte, markQKeyPrefix, markQKeyPrefix+len(key))
	b[0] = byte(m.prio)
	binary.BigEndian.PutUint64(b[1:], unixNanos(m.notBefore))
	binary.BigEndian.PutUint64(b[9:], m.seq)
	return append(b, key...)
}

// unixNanos orders times as unsigned integers; times before 1970 sort first.
func unixNanos(t time.Time) uint64 {
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// Claim is a due mark handed to one worker by Next. It is a plain value;
// settle it exactly once with Done, Retry, Drop or Release.
type Claim struct {
	Key      string
	Seq      uint64 // the mark's sequence number when it was claimed
	Priority edge.Priority
	MarkedAt time.Time // time of the latest mark
	Attempts int       // failed regenerations so far
}

// MarkStats counts the marks; a plain value.
type MarkStats struct {
	// Pending marks by priority (claimed ones included); Dropped marks left
	// for the sweep after too many failed regenerations.
	Pending [edge.NumPriorities]int64
	Dropped int64
	// Claimed marks are being regenerated now.
	Claimed int
	// Collapsed counts marks of pages that were already marked (pending):
	// the duplicate cost nothing. Since Open.
	Collapsed int64
}

// Mark durably marks the pages of keys stale, in one index transaction,
// with priority prio (a page already marked keeps the more urgent of the
// two). It returns when the marks are committed (synced unless NoSync).
// Each mark gets a new sequence number, so a page re-marked while it is
// being regenerated is regenerated once more afterwards; a page already
// marked and waiting is not queued twice (counted in MarkStats.Collapsed).
// A re-mark of a page whose regeneration is failing keeps its attempts and
// backoff; a re-mark of a dropped mark revives it with fresh attempts.
// Keys without a page are counted in unknown and ignored. source names
// the way in ("api", "queue", …) and is kept with the mark.
func (s *Store) Mark(keys []string, prio edge.Priority, source string) (marked, unknown int, err error) {
	if prio >= edge.NumPriorities {
		return 0, 0, fmt.Errorf("store: mark: priority %d out of range", prio)
	}
	now := time.Now().UTC()
	var d delta
	var collapsed int64
	err = s.indexWrite(func(tx *bolt.Tx) error {
		marked, unknown, collapsed, d = 0, 0, 0, delta{}
		pages, marks, q := tx.Bucket(bucketPages), tx.Bucket(bucketMarks), tx.Bucket(bucketMarkQ)
		for _, k := range keys {
			if len(k) == 0 || pages.Get([]byte(k)) == nil {
				unknown++
				continue
			}
			seq, err := marks.NextSequence()
			if err != nil {
				return err
			}
			m := &mark{prio: prio, seq: seq, markedAt: now, notBefore: now, source: source}
			if v := marks.Get([]byte(k)); v != nil {
				if old, err := decodeMark(v); err == nil {
					m.prio = min(m.prio, old.prio)
					if old.dropped {
						d.marks[edge.NumPriorities]--
					} else {
						collapsed++
						d.marks[old.prio]--
						m.attempts = old.attempts
						if old.notBefore.After(now) {
							m.notBefore = old.notBefore
						}
						if err := q.Delete(old.queueKey(k)); err != nil {
							return err
						}
					}
				}
			}
			if err := putMarkTx(marks, q, k, m); err != nil {
				return err
			}
			d.marks[m.prio]++
			marked++
		}
		return addCounters(tx, d)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: mark: %w", err)
	}
	fault.Point("store.mark.after-commit")
	s.account(d)
	s.collapsed.Add(collapsed)
	return marked, unknown, nil
}

// putMarkTx writes m and, unless it is dropped, its queue entry.
func putMarkTx(marks, q *bolt.Bucket, key string, m *mark) error {
	if err := marks.Put([]byte(key), m.encode()); err != nil {
		return err
	}
	if m.dropped {
		return nil
	}
	return q.Put(m.queueKey(key), nil)
}

// unmarkTx removes key's mark (and queue entry) if it has one and returns
// the counter change.
func unmarkTx(tx *bolt.Tx, key string) (markDelta, error) {
	var d markDelta
	marks := tx.Bucket(bucketMarks)
	v := marks.Get([]byte(key))
	if v == nil {
		return d, nil
	}
	if m, err := decodeMark(v); err == nil {
		if m.dropped {
			d[edge.NumPriorities]--
		} else {
			d[m.prio]--
			if err := tx.Bucket(bucketMarkQ).Delete(m.queueKey(key)); err != nil {
				return d, err
			}
		}
	}
	return d, marks.Delete([]byte(key))
}

// Unmark removes the marks of keys (nothing will regenerate them) and
// returns how many there were.
func (s *Store) Unmark(keys []string) (int, error) {
	var n int
	var d delta
	err := s.indexWrite(func(tx *bolt.Tx) error {
		n, d = 0, delta{}
		marks := tx.Bucket(bucketMarks)
		for _, k := range keys {
			if len(k) == 0 || marks.Get([]byte(k)) == nil {
				continue
			}
			md, err := unmarkTx(tx, k)
			if err != nil {
				return err
			}
			d.marks.add(md)
			n++
		}
		return addCounters(tx, d)
	})
	if err != nil {
		return 0, fmt.Errorf("store: unmark: %w", err)
	}
	s.account(d)
	return n, nil
}

// Marked reports whether key's page is marked stale (pending or dropped).
func (s *Store) Marked(key string) bool {
	var ok bool
	_ = s.db.View(func(tx *bolt.Tx) error {
		ok = len(key) > 0 && tx.Bucket(bucketMarks).Get([]byte(key)) != nil
		return nil
	})
	return ok
}

// Next claims up to max marks due at now (not_before ≤ now), most urgent
// priority first and, within a priority, in (not_before, sequence) order,
// skipping marks already claimed. A claimed mark is not handed out again
// until it is settled. When it claims nothing, wake is the earliest
// not_before of the pending marks still to come (zero if none; claimed
// marks are not considered). It reads from the front of each priority's
// range of the queue index and never scans all marks.
func (s *Store) Next(now time.Time, max int) (claims []Claim, wake time.Time, err error) {
	if max <= 0 {
		return nil, time.Time{}, nil
	}
	cutoff := unixNanos(now)
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMarkQ).Cursor()
		marks := tx.Bucket(bucketMarks)
		for p := range edge.NumPriorities {
			for k, _ := c.Seek([]byte{byte(p)}); k != nil && k[0] == byte(p); k, _ = c.Next() {
				if len(k) <= markQKeyPrefix {
					continue // corrupt entry; Fsck drops it
				}
				if nb := binary.BigEndian.Uint64(k[1:]); nb > cutoff {
					if t := time.Unix(0, int64(nb)).UTC(); wake.IsZero() || t.Before(wake) {
						wake = t
					}
					break
				}
				key := string(k[markQKeyPrefix:])
				if _, busy := s.claimed[key]; busy {
					continue
				}
				m, err := decodeMark(marks.Get(k[markQKeyPrefix:]))
				if err != nil || m.dropped || m.seq != binary.BigEndian.Uint64(k[9:]) {
					continue // a stale entry; Fsck drops it
				}
				claims = append(claims, Claim{Key: key, Seq: m.seq, Priority: m.prio, MarkedAt: m.markedAt, Attempts: m.attempts})
				if len(claims) == max {
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: next marks: %w", err)
	}
	for _, c := range claims {
		s.claimed[c.Key] = c.Seq
	}
	if len(claims) > 0 {
		wake = time.Time{}
	}
	return claims, wake, nil
}

// settle runs fn on c's current mark (nil if it has none) in a write
// transaction and then releases the claim.
func (s *Store) settle(c Claim, op string, fn func(tx *bolt.Tx, m *mark) (markDelta, error)) error {
	var d delta
	err := s.indexWrite(func(tx *bolt.Tx) error {
		d = delta{}
		var m *mark
		if v := tx.Bucket(bucketMarks).Get([]byte(c.Key)); v != nil {
			var err error
			if m, err = decodeMark(v); err != nil {
				// Unreadable: drop it rather than loop on it.
				md, err := unmarkTx(tx, c.Key)
				d.marks = md
				if err != nil {
					return err
				}
				return addCounters(tx, d)
			}
		}
		md, err := fn(tx, m)
		if err != nil {
			return err
		}
		d.marks = md
		return addCounters(tx, d)
	})
	// The claim is released only after the commit: a Next in between must
	// not hand out a mark this settlement is about to remove.
	s.Release(c)
	if err != nil {
		return fmt.Errorf("store: %s mark %q: %w", op, c.Key, err)
	}
	s.account(d)
	return nil
}

// Done settles a claim whose regeneration succeeded: the mark is removed if
// it was not made again since Next handed it out (removed is then true);
// if it was, it stays due, with its attempts reset, for exactly one more
// regeneration.
func (s *Store) Done(c Claim) (removed bool, err error) {
	err = s.settle(c, "done", func(tx *bolt.Tx, m *mark) (markDelta, error) {
		removed = false
		switch {
		case m == nil:
			return markDelta{}, nil
		case m.seq == c.Seq:
			removed = true
			return unmarkTx(tx, c.Key)
		case m.attempts != 0:
			m.attempts = 0
			return markDelta{}, tx.Bucket(bucketMarks).Put([]byte(c.Key), m.encode())
		}
		return markDelta{}, nil
	})
	return removed, err
}

// Retry settles a claim whose regeneration failed: the mark's attempts go
// up by one and it is not handed out again before notBefore (or its own
// not_before if later). A mark removed or dropped meanwhile is left alone.
func (s *Store) Retry(c Claim, notBefore time.Time) error {
	return s.settle(c, "retry", func(tx *bolt.Tx, m *mark) (markDelta, error) {
		if m == nil || m.dropped {
			return markDelta{}, nil
		}
		q := tx.Bucket(bucketMarkQ)
		if err := q.Delete(m.queueKey(c.Key)); err != nil {
			return markDelta{}, err
		}
		m.attempts++
		if notBefore.After(m.notBefore) {
			m.notBefore = notBefore.UTC()
		}
		return markDelta{}, putMarkTx(tx.Bucket(bucketMarks), q, c.Key, m)
	})
}

// Drop settles a claim whose regeneration failed too often: the mark stays
// (the page is still served as stale, and a new mark revives it) but is no
// longer handed out; it is left for the sweep and counted in
// MarkStats.Dropped.
func (s *Store) Drop(c Claim) error {
	return s.settle(c, "drop", func(tx *bolt.Tx, m *mark) (markDelta, error) {
		var d markDelta
		if m == nil || m.dropped {
			return d, nil
		}
		if err := tx.Bucket(bucketMarkQ).Delete(m.queueKey(c.Key)); err != nil {
			return d, err
		}
		d[m.prio]--
		d[edge.NumPriorities]++
		m.dropped = true
		return d, tx.Bucket(bucketMarks).Put([]byte(c.Key), m.encode())
	})
}

// Release gives a claim back untouched (its worker is stopping): the mark
// is due again at once, with its attempts unchanged.
func (s *Store) Release(c Claim) {
	s.claimMu.Lock()
	if s.claimed[c.Key] == c.Seq {
		delete(s.claimed, c.Key)
	}
	s.claimMu.Unlock()
}

// MarkStats returns the mark counters; it costs a few atomic loads.
func (s *Store) MarkStats() MarkStats {
	var st MarkStats
	for p := range st.Pending {
		st.Pending[p] = s.markCounts[p].Load()
	}
	st.Dropped = s.markCounts[edge.NumPriorities].Load()
	st.Collapsed = s.collapsed.Load()
	s.claimMu.Lock()
	st.Claimed = len(s.claimed)
	s.claimMu.Unlock()
	return st
}

// fsckMarks drops marks whose page has no index record and queue entries
// that do not match their mark (neither can be made by this package; a
// corrupt or hand-edited index can hold them), and recounts the marks.
func (s *Store) fsckMarks() (dropped int, err error) {
	var d delta
	err = s.indexWrite(func(tx *bolt.Tx) error {
		dropped, d = 0, delta{}
		pages, marks, q := tx.Bucket(bucketPages), tx.Bucket(bucketMarks), tx.Bucket(bucketMarkQ)
		var want markDelta
		var orphans [][]byte
		err := marks.ForEach(func(k, v []byte) error {
			m, err := decodeMark(v)
			if err != nil || pages.Get(k) == nil {
				orphans = append(orphans, bytes.Clone(k))
				return nil
			}
			if m.dropped {
				want[edge.NumPriorities]++
			} else {
				want[m.prio]++
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range orphans {
			if err := marks.Delete(k); err != nil {
				return err
			}
			dropped++
		}
		var badQ [][]byte
		err = q.ForEach(func(k, _ []byte) error {
			if len(k) <= markQKeyPrefix {
				badQ = append(badQ, bytes.Clone(k))
				return nil
			}
			m, err := decodeMark(marks.Get(k[markQKeyPrefix:]))
			if err != nil || m.dropped || !bytes.Equal(m.queueKey(string(k[markQKeyPrefix:])), k) {
				badQ = append(badQ, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range badQ {
			if err := q.Delete(k); err != nil {
				return err
			}
		}
		// Every pending mark needs its queue entry.
		err = marks.ForEach(func(k, v []byte) error {
			m, err := decodeMark(v)
			if err != nil || m.dropped {
				return nil
			}
			if qk := m.queueKey(string(k)); q.Get(qk) == nil {
				return q.Put(qk, nil)
			}
			return nil
		})
		if err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		for i, name := range counterMarks {
			d.marks[i] = want[i] - readCounter(meta, name)
		}
		return addCounters(tx, d)
	})
	if err != nil {
		return 0, fmt.Errorf("store: fsck marks: %w", err)
	}
	s.account(d)
	return dropped, nil
}

// Has reports whether key has a page in the index.
func (s *Store) Has(key string) bool {
	var ok bool
	_ = s.db.View(func(tx *bolt.Tx) error {
		ok = len(key) > 0 && tx.Bucket(bucketPages).Get([]byte(key)) != nil
		return nil
	})
	return ok
}

// KeysWithPrefix calls fn for each key of a stored page that starts with
// prefix ("" for every page), in key order, until fn returns false. Keys are
// sorted in the index, so it reads only the matching range. Like
// KeysForTag, fn runs outside any transaction (the keys are read in chunks).
func (s *Store) KeysWithPrefix(prefix string, fn func(key string) bool) error {
	err := s.scanPages([]byte(prefix), func(k, _ []byte) (keep, more bool) {
		if !bytes.HasPrefix(k, []byte(prefix)) {
			return false, false
		}
		return true, true
	}, fn)
	if err != nil {
		return fmt.Errorf("store: keys with prefix %q: %w", prefix, err)
	}
	return nil
}

// KeysGeneratedBefore calls fn for each stored page generated before t, in
// key order, until fn returns false. It reads every index record (it is
// meant for rare repairs such as a queue outage), in chunks, outside of
// which fn runs.
func (s *Store) KeysGeneratedBefore(t time.Time, fn func(key string) bool) error {
	err := s.scanPages(nil, func(_, v []byte) (keep, more bool) {
		r, err := decodeRecord(v)
		return err == nil && r.GeneratedAt.Before(t), true
	}, fn)
	if err != nil {
		return fmt.Errorf("store: keys generated before %s: %w", t.Format(time.RFC3339), err)
	}
	return nil
}

// scanPages walks the pages bucket from start in chunks of read
// transactions; match decides per record whether fn sees the key and
// whether the walk goes on.
func (s *Store) scanPages(start []byte, match func(k, v []byte) (keep, more bool), fn func(key string) bool) error {
	const chunk = 512
	seek, resume := start, false
	for {
		var keys []string
		var last []byte
		done := false
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketPages).Cursor()
			k, v := c.Seek(seek)
			if resume && bytes.Equal(k, seek) {
				k, v = c.Next()
			}
			n := 0
			for ; k != nil && n < chunk; k, v = c.Next() {
				n++
				last = k
				keep, more := match(k, v)
				if keep {
					keys = append(keys, string(k))
				}
				if !more {
					done = true
					return nil
				}
			}
			if k == nil {
				done = true
			}
			last = bytes.Clone(last)
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !fn(k) {
				return nil
			}
		}
		if done || last == nil {
			return nil
		}
		seek, resume = last, true
	}
}

// SetState durably stores a small named value for another package (the
// invalidation consumer's outage window, …); a nil value deletes it.
func (s *Store) SetState(name string, value []byte) error {
	if name == "" {
		return errors.New("store: set state: empty name")
	}
	err := s.indexWrite(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		if value == nil {
			return b.Delete([]byte(name))
		}
		return b.Put([]byte(name), value)
	})
	if err != nil {
		return fmt.Errorf("store: set state %q: %w", name, err)
	}
	return nil
}

// State returns the value SetState stored under name, or nil.
func (s *Store) State(name string) ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketState).Get([]byte(name)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: state %q: %w", name, err)
	}
	return v, nil
}
