package s3store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/pregen/edge"
)

// The queue of S3 writes to deliver: one entry per key in the store's
// named state, "s3/pending/" + key → JSON {op, at}. A newer write of a
// key replaces its entry; an entry is removed once S3 has the write (or
// no longer needs it).
const pendingPrefix = "s3/pending/"

const (
	opPut    = "put"
	opDelete = "delete"
)

type entry struct {
	Op string    `json:"op"`
	At time.Time `json:"at"` // generated_at of the page, or the time of the deletion
}

// enqueue records a write of key for Run; the caller holds key's lock.
func (t *Tiered) enqueue(key, op string, at time.Time) error {
	name := pendingPrefix + key
	old, err := t.local.State(name)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(entry{Op: op, At: at})
	if err := t.local.SetState(name, b); err != nil {
		return err
	}
	if old == nil {
		t.pending.Add(1)
	}
	t.poke()
	return nil
}

// settle removes key's entry, if any; the caller holds key's lock.
func (t *Tiered) settle(key string) error {
	if t.pending.Load() == 0 {
		return nil
	}
	name := pendingPrefix + key
	old, err := t.local.State(name)
	if err != nil || old == nil {
		return err
	}
	if err := t.local.SetState(name, nil); err != nil {
		return err
	}
	t.pending.Add(-1)
	return nil
}

// Run delivers the queued writes until ctx is done: whenever some are
// pending, after the current back-off (at least BackoffMin), oldest key
// order first; a failure ends the pass and extends the back-off. It
// returns nil when ctx is done.
func (t *Tiered) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if t.pending.Load() == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-t.wake:
				continue
			}
		}
		wait := t.min
		if until := t.downUntil.Load(); until != 0 {
			wait = max(wait, time.Duration(until-t.now().UnixNano()))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		t.drain(ctx)
	}
}

// drain tries each queued write once, stopping at the first S3 failure.
func (t *Tiered) drain(ctx context.Context) {
	for ctx.Err() == nil && t.available() {
		var keys []string
		err := t.local.ScanState(pendingPrefix, func(name string, _ []byte) bool {
			keys = append(keys, name[len(pendingPrefix):])
			return len(keys) < 256
		})
		if err != nil {
			t.log.Error("s3: reading the queue of writes", "err", err)
			return
		}
		progress := false
		for _, key := range keys {
			if ctx.Err() != nil || !t.available() {
				return
			}
			done, err := t.deliver(ctx, key)
			if err != nil {
				t.c.retryErrors.Add(1)
				t.failed(err)
				return
			}
			progress = progress || done
		}
		if len(keys) < 256 || !progress {
			return
		}
	}
}

// deliver sends one queued write; done is false when it was left queued
// for a local reason (logged).
func (t *Tiered) deliver(ctx context.Context, key string) (done bool, err error) {
	mu := t.lock(key)
	mu.Lock()
	defer mu.Unlock()
	raw, err := t.local.State(pendingPrefix + key)
	if err != nil {
		t.log.Error("s3: reading a queued write", "key", key, "err", err)
		return false, nil
	}
	if raw == nil {
		return true, nil // settled meanwhile
	}
	var e entry
	if json.Unmarshal(raw, &e) != nil {
		e.Op = opPut // damaged entry: push whatever disk has
	}
	written := true
	switch e.Op {
	case opDelete:
		err = t.remote.Delete(ctx, key, e.At)
	default:
		p, lerr := t.local.Get(key)
		switch {
		case errors.Is(lerr, edge.ErrNotFound):
			written = false // gone from disk since: nothing to send
		case lerr != nil:
			t.log.Error("s3: reading a page to deliver", "key", key, "err", lerr)
			return false, nil
		default:
			written, err = t.remote.Put(ctx, p, true)
		}
	}
	if errors.Is(err, ErrBadObject) {
		t.log.Error("s3: queued write cannot be sent; dropped", "key", key, "err", err)
		err, written = nil, false
	}
	if err != nil {
		return false, err
	}
	t.succeeded()
	if written {
		t.c.retried.Add(1)
	} else {
		t.c.superseded.Add(1)
	}
	if err := t.settle(key); err != nil {
		t.log.Error("s3: removing a delivered write from the queue", "key", key, "err", err)
		return false, nil
	}
	return true, nil
}

// Flush tries once to deliver every queued write (unless S3 is being left
// alone after a failure) and returns how many are still queued. Commands
// that end (edge gen, edge worker -until-empty) call it before closing.
func (t *Tiered) Flush(ctx context.Context) int64 {
	t.drain(ctx)
	return t.pending.Load()
}
