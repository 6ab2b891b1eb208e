package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketOutbox holds items waiting to be published elsewhere (cluster
// mode's invalidations while NATS is unreachable): big-endian seq → body.
// It is made on first use.
var bucketOutbox = []byte("outbox")

// OutboxAdd durably appends an item and returns its sequence number.
func (s *Store) OutboxAdd(body []byte) (uint64, error) {
	var seq uint64
	err := s.indexWrite(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketOutbox)
		if err != nil {
			return err
		}
		if seq, err = b.NextSequence(); err != nil {
			return err
		}
		return b.Put(binary.BigEndian.AppendUint64(nil, seq), body)
	})
	if err != nil {
		return 0, fmt.Errorf("store: outbox add: %w", err)
	}
	return seq, nil
}

// OutboxEach calls fn with the items, oldest first, until fn returns false.
// fn must not call the Store's write methods.
func (s *Store) OutboxEach(fn func(seq uint64, body []byte) bool) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				continue
			}
			if !fn(binary.BigEndian.Uint64(k), bytes.Clone(v)) {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: outbox: %w", err)
	}
	return nil
}

// OutboxDelete removes an item (no error if it is gone).
func (s *Store) OutboxDelete(seq uint64) error {
	err := s.indexWrite(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		return b.Delete(binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		return fmt.Errorf("store: outbox delete: %w", err)
	}
	return nil
}

// OutboxLen returns how many items wait.
func (s *Store) OutboxLen() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketOutbox); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return 0, errors.Join(errors.New("store: outbox"), err)
	}
	return n, nil
}
