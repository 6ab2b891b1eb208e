package natsq

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// tagEntry is the bucket key of (tag, page key): t.<tag, base64url>.<digest
// of the page key>, whose value is the page key. Page keys can be longer
// than a subject token may sensibly be, hence the digest.
func tagEntry(tag, key string) string {
	sum := sha256.Sum256([]byte(key))
	return tagPrefix(tag) + hex.EncodeToString(sum[:16])
}

func tagPrefix(tag string) string {
	return "t." + base64.RawURLEncoding.EncodeToString([]byte(tag)) + "."
}

// tagKV connects if need be and returns the tag index's bucket.
func (c *Client) tagKV(ctx context.Context) (jetstream.KeyValue, error) {
	if err := c.ensure(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	kv := c.tags
	c.mu.Unlock()
	if kv == nil { // reset since ensure: the server lost the bucket
		return nil, fmt.Errorf("%w: tag bucket gone", ErrUnavailable)
	}
	return kv, nil
}

// RecordTags records in the shared tag index that the page key carries
// tags. Entries are never removed when a page drops a tag: a stale entry
// costs at most one needless regeneration.
func (c *Client) RecordTags(ctx context.Context, key string, tags []string) error {
	kv, err := c.tagKV(ctx)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if _, err := kv.Put(ctx, tagEntry(t, key), []byte(key)); err != nil {
			return c.unavailable(fmt.Errorf("natsq: record tag %q: %w", t, err))
		}
	}
	return nil
}

// KeysForTag calls fn with each page key the shared index records for tag,
// until fn returns false.
func (c *Client) KeysForTag(ctx context.Context, tag string, fn func(key string) bool) error {
	kv, err := c.tagKV(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := kv.Watch(ctx, tagPrefix(tag)+"*", jetstream.IgnoreDeletes())
	if err != nil {
		return c.unavailable(fmt.Errorf("natsq: tag %q: %w", tag, err))
	}
	defer w.Stop() //nolint:errcheck // nothing to do about it
	for {
		select {
		case <-ctx.Done():
			return c.unavailable(fmt.Errorf("natsq: tag %q: %w", tag, ctx.Err()))
		case e, ok := <-w.Updates():
			if !ok {
				return c.unavailable(fmt.Errorf("natsq: tag %q: watcher closed", tag))
			}
			if e == nil {
				return nil // every recorded entry has been seen
			}
			if !fn(string(e.Value())) {
				return nil
			}
		}
	}
}

// TagRecorder records page tags in the shared index in the background, so
// that storing a page never waits for NATS. What cannot be recorded (the
// queue is full, NATS is down) is counted and logged, not retried: every
// edge also resolves the tags of an invalidation against its own index, so
// a missing entry only matters for pages no edge holds. Record and Stats
// are safe for concurrent use; call Run once.
type TagRecorder struct {
	Client *Client
	Logger *slog.Logger

	ch                chan tagJob
	recorded, dropped atomic.Int64
}

type tagJob struct {
	key  string
	tags []string
}

// NewTagRecorder makes a recorder with room for queue pages in waiting.
func NewTagRecorder(c *Client, queue int, log *slog.Logger) *TagRecorder {
	if log == nil {
		log = c.cfg.Logger
	}
	return &TagRecorder{Client: c, Logger: log, ch: make(chan tagJob, queue)}
}

// Record queues the tags of key; it never blocks.
func (r *TagRecorder) Record(key string, tags []string) {
	if len(tags) == 0 {
		return
	}
	select {
	case r.ch <- tagJob{key, tags}:
	default:
		if r.dropped.Add(1)%1000 == 1 {
			r.Logger.Warn("natsq: tag index queue full; entries not recorded", "dropped", r.dropped.Load())
		}
	}
}

// Stats returns the pages recorded and dropped so far.
func (r *TagRecorder) Stats() (recorded, dropped int64) { return r.recorded.Load(), r.dropped.Load() }

// Run records queued tags until ctx is done, then records what is queued
// (for at most a few seconds).
func (r *TagRecorder) Run(ctx context.Context) error {
	for {
		select {
		case j := <-r.ch:
			r.record(j)
		case <-ctx.Done():
			end := time.Now().Add(3 * time.Second)
			for time.Now().Before(end) {
				select {
				case j := <-r.ch:
					r.record(j)
				default:
					return nil
				}
			}
			return nil
		}
	}
}

func (r *TagRecorder) record(j tagJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Client.RecordTags(ctx, j.key, j.tags); err != nil {
		if r.dropped.Add(1)%1000 == 1 {
			r.Logger.Warn("natsq: recording tags in the shared index", "key", j.key, "err", err, "dropped", r.dropped.Load())
		}
		return
	}
	r.recorded.Add(1)
}
