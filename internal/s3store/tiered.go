package s3store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/store"
	"golang.org/x/sync/singleflight"
)

// Remote is the shared page store behind local disk. *Bucket satisfies it.
type Remote interface {
	// Get returns the page or an error wrapping edge.ErrNotFound.
	Get(ctx context.Context, key string) (*edge.Page, error)
	// Put stores p; with onlyIfNewer a stored page generated at or after
	// p.GeneratedAt is kept (written false).
	Put(ctx context.Context, p *edge.Page, onlyIfNewer bool) (written bool, err error)
	// Delete removes the page if it was generated before before (any page
	// when before is zero); an absent page is not an error.
	Delete(ctx context.Context, key string, before time.Time) error
}

// Options configures a Tiered. Zero values mean the defaults beside them.
type Options struct {
	// Logger receives S3 outages and recoveries. Default slog.Default().
	Logger *slog.Logger
	// BackoffMin is how long S3 is left alone after a first failure; it
	// doubles with each further failure up to BackoffMax. Defaults 1s, 5m.
	BackoffMin, BackoffMax time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Stats are the S3 tier's counters since New (Pending survives restarts).
type Stats struct {
	ReadThrough   int64 // local misses answered from S3 (and copied to disk)
	ReadMisses    int64 // local misses S3 did not have either
	ReadErrors    int64 // local misses on which S3 failed (the origin answered)
	ReadsSkipped  int64 // local misses that did not ask S3 while backing off
	CopyErrors    int64 // pages read from S3 that could not be copied to disk
	Writes        int64 // pages and deletions written to S3 when they were made
	WriteErrors   int64 // writes S3 refused or did not answer (then queued)
	WritesQueued  int64 // writes queued without trying while backing off
	Retried       int64 // queued writes delivered later
	Superseded    int64 // queued writes S3 no longer needed (newer there, or page gone)
	RetryErrors   int64 // failed deliveries of queued writes
	Pending       int64 // queued writes not yet delivered (durable)
	Down          bool  // backing off after a failure
	DownSince     time.Time
	LastError     string
	LastErrorTime time.Time
}

// Tiered is local disk in front of S3: the disk tier edge serves from, with
// S3 behind it as the shared copy (see the package documentation). It
// satisfies the proxy's and the generator's Store interfaces and the
// invalidation's Pages. It is safe for concurrent use; Run must run for
// queued writes to be delivered.
type Tiered struct {
	local  *store.Store
	remote Remote
	log    *slog.Logger
	now    func() time.Time
	min    time.Duration
	max    time.Duration

	locks [64]sync.Mutex // serialise the writes of one key (stripes)
	reads singleflight.Group
	wake  chan struct{}

	downUntil atomic.Int64 // unix nanoseconds; 0 when S3 is believed up
	mu        sync.Mutex   // protects backoff, downSince, lastErr, lastErrAt
	backoff   time.Duration
	downSince time.Time
	lastErr   string
	lastErrAt time.Time

	pending atomic.Int64
	c       struct {
		readThrough, readMisses, readErrors, readsSkipped, copyErrors atomic.Int64
		writes, writeErrors, writesQueued, retried, superseded        atomic.Int64
		retryErrors                                                   atomic.Int64
	}
}

// New puts local disk in front of remote. It counts the writes a previous
// run left queued (they are delivered by Run).
func New(local *store.Store, remote Remote, o Options) (*Tiered, error) {
	t := &Tiered{local: local, remote: remote, log: o.Logger, now: o.Now,
		min: o.BackoffMin, max: o.BackoffMax, wake: make(chan struct{}, 1)}
	if t.log == nil {
		t.log = slog.Default()
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.min <= 0 {
		t.min = time.Second
	}
	if t.max < t.min {
		t.max = max(5*time.Minute, t.min)
	}
	var n int64
	if err := local.ScanState(pendingPrefix, func(string, []byte) bool { n++; return true }); err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	t.pending.Store(n)
	if n > 0 {
		t.log.Info("s3: writes queued by a previous run will be delivered", "pending", n)
	}
	return t, nil
}

func (t *Tiered) lock(key string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return &t.locks[h.Sum32()%uint32(len(t.locks))]
}

// Get returns key's page from local disk, or on a local miss from S3 (then
// keeping a local copy). A local hit never touches S3. When S3 fails or is
// being left alone after a failure, the local miss is reported as such
// (an error wrapping edge.ErrNotFound), so the caller goes to the origin.
func (t *Tiered) Get(key string) (*edge.Page, error) {
	p, err := t.local.Get(key)
	if err == nil || !errors.Is(err, edge.ErrNotFound) {
		return p, err
	}
	return t.readThrough(key, err)
}

// GetVariant is the local store's GetVariant (only the representation one
// client is sent); on a local miss it reads the whole page from S3 as Get
// does, keeps the local copy, and returns the whole page.
func (t *Tiered) GetVariant(key string, br, gz bool) (*edge.Page, error) {
	p, err := t.local.GetVariant(key, br, gz)
	if err == nil || !errors.Is(err, edge.ErrNotFound) {
		return p, err
	}
	return t.readThrough(key, err)
}

// readThrough reads key from S3 after a local miss (localErr) and copies
// it to local disk; concurrent calls for a key share one S3 read.
func (t *Tiered) readThrough(key string, localErr error) (*edge.Page, error) {
	if !t.available() {
		t.c.readsSkipped.Add(1)
		return nil, localErr
	}
	v, rerr, _ := t.reads.Do(key, func() (any, error) {
		rp, rerr := t.remote.Get(context.Background(), key)
		switch {
		case errors.Is(rerr, edge.ErrNotFound):
			t.c.readMisses.Add(1)
			t.succeeded()
			return nil, rerr
		case errors.Is(rerr, ErrBadObject) || errors.Is(rerr, store.ErrBadKey):
			t.c.readErrors.Add(1)
			t.log.Warn("s3: unusable page object; treating as a miss", "key", key, "err", rerr)
			return nil, rerr
		case rerr != nil:
			t.c.readErrors.Add(1)
			t.failed(rerr)
			return nil, rerr
		}
		t.succeeded()
		t.c.readThrough.Add(1)
		if _, cerr := t.local.Put(rp); cerr != nil {
			t.c.copyErrors.Add(1)
			t.log.Warn("s3: page read from S3 not copied to disk", "key", key, "err", cerr)
		}
		return rp, nil
	})
	if rerr != nil {
		return nil, fmt.Errorf("%w (s3: %w)", localErr, rerr)
	}
	return v.(*edge.Page), nil
}

// Watch asks local disk to report outside changes to key's files.
func (t *Tiered) Watch(key string) bool { return t.local.Watch(key) }

// Put stores p in S3, then on local disk. When S3 fails (or is being left
// alone), the write is queued durably before the local write and delivered
// by Run; only an error from local disk or from queueing is returned.
func (t *Tiered) Put(p *edge.Page) (changed bool, err error) {
	mu := t.lock(p.Key)
	mu.Lock()
	defer mu.Unlock()
	qerr := t.write(p.Key, opPut, p.GeneratedAt, func(ctx context.Context) error {
		_, err := t.remote.Put(ctx, p, false)
		return err
	})
	changed, err = t.local.Put(p)
	return changed, errors.Join(err, qerr)
}

// Delete removes key's page from S3 (unless a newer one is there), then
// from local disk; a failed S3 deletion is queued like a failed Put.
func (t *Tiered) Delete(key string) error {
	mu := t.lock(key)
	mu.Lock()
	defer mu.Unlock()
	at := t.now()
	qerr := t.write(key, opDelete, at, func(ctx context.Context) error {
		return t.remote.Delete(ctx, key, at)
	})
	return errors.Join(t.local.Delete(key), qerr)
}

// write runs an S3 write of key, or queues it; the caller holds key's lock.
// It returns only errors that lose the write: an unusable key or page, or
// a failure to queue it.
func (t *Tiered) write(key, op string, at time.Time, do func(context.Context) error) error {
	if !t.available() {
		t.c.writesQueued.Add(1)
		return t.enqueue(key, op, at)
	}
	err := do(context.Background())
	switch {
	case err == nil:
		t.c.writes.Add(1)
		t.succeeded()
		return t.settle(key) // a newer write supersedes a queued one
	case errors.Is(err, store.ErrBadKey) || errors.Is(err, ErrBadObject):
		return err // the local write refuses it too, or it cannot go to S3 at all
	}
	t.c.writeErrors.Add(1)
	t.failed(err)
	return t.enqueue(key, op, at)
}

// available reports whether S3 may be called now (not backing off).
func (t *Tiered) available() bool {
	until := t.downUntil.Load()
	return until == 0 || t.now().UnixNano() >= until
}

// failed starts or extends a back-off after an S3 failure.
func (t *Tiered) failed(err error) {
	now := t.now()
	t.mu.Lock()
	t.lastErr, t.lastErrAt = err.Error(), now
	if until := t.downUntil.Load(); until != 0 && now.UnixNano() < until {
		t.mu.Unlock()
		return // already backing off; a call that started earlier
	}
	if t.backoff == 0 {
		t.backoff = t.min
	} else {
		t.backoff = min(2*t.backoff, t.max)
	}
	first := t.downSince.IsZero()
	if first {
		t.downSince = now
	}
	t.downUntil.Store(now.Add(t.backoff).UnixNano())
	backoff := t.backoff
	t.mu.Unlock()
	if first {
		t.log.Warn("s3: unavailable; serving from local disk, queueing writes", "err", err, "retry_in", backoff)
	}
	t.poke()
}

// succeeded ends a back-off.
func (t *Tiered) succeeded() {
	if t.downUntil.Load() == 0 {
		return
	}
	t.mu.Lock()
	since := t.downSince
	t.backoff, t.downSince = 0, time.Time{}
	t.downUntil.Store(0)
	t.mu.Unlock()
	if !since.IsZero() {
		t.log.Info("s3: available again", "down_for", t.now().Sub(since).Round(time.Millisecond),
			"pending", t.pending.Load())
	}
}

// poke wakes Run.
func (t *Tiered) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the counters.
func (t *Tiered) Stats() Stats {
	t.mu.Lock()
	since, lastErr, lastErrAt := t.downSince, t.lastErr, t.lastErrAt
	t.mu.Unlock()
	return Stats{
		ReadThrough: t.c.readThrough.Load(), ReadMisses: t.c.readMisses.Load(),
		ReadErrors: t.c.readErrors.Load(), ReadsSkipped: t.c.readsSkipped.Load(),
		CopyErrors: t.c.copyErrors.Load(), Writes: t.c.writes.Load(),
		WriteErrors: t.c.writeErrors.Load(), WritesQueued: t.c.writesQueued.Load(),
		Retried: t.c.retried.Load(), Superseded: t.c.superseded.Load(),
		RetryErrors: t.c.retryErrors.Load(), Pending: t.pending.Load(),
		Down: !t.available() || !since.IsZero(), DownSince: since,
		LastError: lastErr, LastErrorTime: lastErrAt,
	}
}
