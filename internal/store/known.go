package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The known keys are the durable set of keys a sitemap or a bulk run
// (edge gen) named: the manifest store.admit "known" stores misses from.
// They live in their own bucket, key → ∅, created on the first AddKnown;
// storing or deleting pages never touches them.
var bucketKnown = []byte("known")

// knownBatch is how many keys AddKnown commits per transaction.
const knownBatch = 10000

// AddKnown adds keys to the known set, knownBatch keys per transaction
// (concurrent callers share commits). Empty keys and keys longer than the
// index allows are skipped. Safe for concurrent use.
func (s *Store) AddKnown(keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), knownBatch)
		batch := keys[:n]
		keys = keys[n:]
		err := s.indexWrite(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucketKnown)
			if err != nil {
				return err
			}
			for _, k := range batch {
				if k == "" || len(k) > bolt.MaxKeySize {
					continue
				}
				if err := b.Put([]byte(k), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: add known keys: %w", err)
		}
	}
	return nil
}

// Known reports whether key is in the known set. An index error reads as
// not known (the page is then served but not stored). Safe for concurrent
// use.
func (s *Store) Known(key string) bool {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketKnown); b != nil && key != "" {
			ok = b.Get([]byte(key)) != nil
		}
		return nil
	})
	if err != nil {
		s.log.Warn("store: known keys lookup failed", "key", key, "err", err)
		return false
	}
	return ok
}
