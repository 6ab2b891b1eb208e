package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ScanState calls fn, in name order, for each value SetState stored under
// a name starting with prefix, until fn returns false. It reads in chunks
// outside any index transaction, so fn may call SetState (a name added or
// removed meanwhile may or may not be seen); value is a copy fn may keep.
func (s *Store) ScanState(prefix string, fn func(name string, value []byte) bool) error {
	const chunk = 256
	seek, resume := []byte(prefix), false
	for {
		type kv struct {
			k string
			v []byte
		}
		var got []kv
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketState).Cursor()
			k, v := c.Seek(seek)
			if resume && bytes.Equal(k, seek) {
				k, v = c.Next()
			}
			for ; k != nil && bytes.HasPrefix(k, []byte(prefix)) && len(got) < chunk; k, v = c.Next() {
				got = append(got, kv{string(k), bytes.Clone(v)})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: scan state %q: %w", prefix, err)
		}
		for _, e := range got {
			if !fn(e.k, e.v) {
				return nil
			}
		}
		if len(got) < chunk {
			return nil
		}
		seek, resume = []byte(got[len(got)-1].k), true
	}
}
