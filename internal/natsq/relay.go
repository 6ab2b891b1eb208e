package natsq

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Outbox is a durable local list of items waiting to be published.
// *store.Store satisfies it.
type Outbox interface {
	// OutboxEach calls fn with the items in the order they were added,
	// until fn returns false.
	OutboxEach(fn func(seq uint64, body []byte) bool) error
	// OutboxDelete removes an item once it is published.
	OutboxDelete(seq uint64) error
}

// Relay publishes the items of an Outbox with Send, oldest first, and
// deletes each once Send succeeded. While NATS is unreachable the items
// stay (durably, in the outbox) and are retried with a doubling delay (at
// most RetryMax); Wake starts a pass at once. An item Send refuses for
// good (an error not wrapping ErrUnavailable) is logged, counted and
// deleted, so one bad item cannot hold back the others. Set the fields,
// then call Run once; Wake and Stats are safe for concurrent use.
type Relay struct {
	Outbox Outbox // required
	// Send publishes one item; it should make publishing the same item
	// twice harmless (a Nats-Msg-Id), since a crash between Send and the
	// delete repeats it. Required.
	Send func(ctx context.Context, seq uint64, body []byte) error
	// RetryMax caps the wait between attempts while NATS is unreachable.
	// Zero means 5s.
	RetryMax time.Duration
	// Logger: nil means slog.Default().
	Logger *slog.Logger

	once                   sync.Once // makes wake
	wake                   chan struct{}
	sent, refused, backlog atomic.Int64
}

// RelayStats are a Relay's counters.
type RelayStats struct {
	Sent, Refused int64
	Backlog       int64 // items left after the last pass
}

// Stats returns a snapshot of the counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{Sent: r.sent.Load(), Refused: r.refused.Load(), Backlog: r.backlog.Load()}
}

func (r *Relay) ch() chan struct{} {
	r.once.Do(func() { r.wake = make(chan struct{}, 1) })
	return r.wake
}

// Wake starts a pass soon; it never blocks. Call it after adding an item.
func (r *Relay) Wake() {
	select {
	case r.ch() <- struct{}{}:
	default:
	}
}

// Run relays until ctx is done and returns nil.
func (r *Relay) Run(ctx context.Context) error {
	wake := r.ch()
	delay := time.Duration(0)
	for {
		n, err := r.pass(ctx)
		r.backlog.Store(int64(n))
		wait := 30 * time.Second // a safety net: Wake is the normal start
		if err != nil {
			delay = min(max(2*delay, 100*time.Millisecond), r.retryMax())
			wait = delay
			if ctx.Err() == nil {
				r.log().Warn("natsq: outbox not published yet; kept and retried", "items", n, "err", err, "in", delay)
			}
		} else {
			delay = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// pass sends every item; it returns how many are left and the first
// unavailability error.
func (r *Relay) pass(ctx context.Context) (left int, err error) {
	type item struct {
		seq  uint64
		body []byte
	}
	var items []item
	if err := r.Outbox.OutboxEach(func(seq uint64, body []byte) bool {
		items = append(items, item{seq, body})
		return len(items) < 1000
	}); err != nil {
		return 0, err
	}
	for i, it := range items {
		if ctx.Err() != nil {
			return len(items) - i, ctx.Err()
		}
		err := r.Send(ctx, it.seq, it.body)
		if err != nil && errors.Is(err, ErrUnavailable) {
			return len(items) - i, err
		}
		if err != nil {
			r.refused.Add(1)
			r.log().Error("natsq: outbox item refused; deleted", "seq", it.seq, "err", err)
		} else {
			r.sent.Add(1)
		}
		if err := r.Outbox.OutboxDelete(it.seq); err != nil {
			return len(items) - i, err
		}
	}
	if len(items) == 1000 {
		return r.pass(ctx)
	}
	return 0, nil
}

func (r *Relay) retryMax() time.Duration {
	if r.RetryMax <= 0 {
		return 5 * time.Second
	}
	return r.RetryMax
}

func (r *Relay) log() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}
