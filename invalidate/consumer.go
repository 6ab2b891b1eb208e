package invalidate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pregen/edge"
)

// Source is a queue of encoded invalidation messages (the cluster issue's
// JetStream consumer; a fake in tests).
type Source interface {
	// Receive blocks until a message arrives (body non-nil), until the
	// source can tell it is reachable but has nothing to deliver (nil body
	// and nil error: a heartbeat, which ends an outage), until ctx is done,
	// or until the source fails (an error: it is unreachable). ack settles
	// a message: nil acknowledges it, an error asks for redelivery. ack is
	// nil when body is nil.
	Receive(ctx context.Context) (body []byte, ack func(error), err error)
}

// State keeps small named values durably. *store.Store satisfies it.
type State interface {
	State(name string) ([]byte, error)
	SetState(name string, value []byte) error
}

// Stale lists the pages generated before a time. *store.Store satisfies it.
type Stale interface {
	KeysGeneratedBefore(t time.Time, fn func(key string) bool) error
}

// outageState is the State name of a recorded outage window.
const outageState = "invalidate.outage"

// Window is a period during which the message source was unreachable:
// invalidations sent then may be lost, so every page generated before End
// is regenerated (at sweep priority) once the source is back.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"` // zero while the outage lasts
}

// Consumer applies the messages of a Source through a Service. A malformed
// message never stops it: it goes to the dead letters (DeadLetter, a log
// line and a counter) and is acknowledged. When the source has been
// unreachable for OutageAfter, the outage window is recorded durably; when
// the source answers again, every page generated before the window ended
// is marked at PrioritySweep and the window is cleared (a crash in between
// repeats the repair, which is idempotent). Set the fields, then call Run
// once; Stats is safe for concurrent use.
type Consumer struct {
	Source  Source   // required
	Service *Service // required
	State   State    // required: the outage window
	Pages   Stale    // required: the pages to repair after an outage
	// OutageAfter is how long the source may be unreachable before an
	// outage is recorded. Zero means one minute.
	OutageAfter time.Duration
	// RetryDelay is the first wait after a failed Receive, doubled up to
	// 30s while the source stays unreachable. Zero means one second.
	RetryDelay time.Duration
	// DeadLetter, if set, keeps malformed messages (see DeadLetterLog).
	DeadLetter func(body []byte, err error)
	// Logger receives outages and dead letters. Nil means slog.Default().
	Logger *slog.Logger

	received, deadLetters, outages, repaired atomic.Int64
}

// ConsumerStats are the consumer's counters since it was made.
type ConsumerStats struct {
	Received    int64 // messages received (heartbeats not counted)
	DeadLetters int64 // malformed messages set aside
	Outages     int64 // outage windows recorded
	Repaired    int64 // pages marked after outages
}

// Stats returns a snapshot of the counters.
func (c *Consumer) Stats() ConsumerStats {
	return ConsumerStats{Received: c.received.Load(), DeadLetters: c.deadLetters.Load(),
		Outages: c.outages.Load(), Repaired: c.repaired.Load()}
}

// Run consumes until ctx is done and returns nil.
func (c *Consumer) Run(ctx context.Context) error {
	w, err := c.loadWindow()
	if err != nil {
		c.log().Error("invalidate: reading the recorded outage window; it is lost", "err", err)
	}
	var down time.Time // start of the current run of failures
	delay := time.Duration(0)
	for {
		body, ack, err := c.Source.Receive(ctx)
		if ctx.Err() != nil {
			if ack != nil {
				ack(ctx.Err())
			}
			return nil
		}
		now := time.Now()
		if err != nil {
			if down.IsZero() {
				down = now
			}
			if w == nil && now.Sub(down) >= c.outageAfter() {
				w = &Window{Start: down}
				c.outages.Add(1)
				c.log().Warn("invalidate: message source unreachable; recording an outage window",
					"since", down, "err", err)
				if err := c.saveWindow(w); err != nil {
					c.log().Error("invalidate: recording the outage window", "err", err)
				}
			}
			delay = min(max(2*delay, c.retryDelay()), 30*time.Second)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		down, delay = time.Time{}, 0
		if w != nil {
			if w.End.IsZero() {
				w.End = now
				if err := c.saveWindow(w); err != nil {
					c.log().Error("invalidate: recording the end of the outage window", "err", err)
				}
			}
			if err := c.repair(w); err != nil {
				c.log().Error("invalidate: re-marking after an outage; will try again", "err", err)
			} else {
				w = nil
			}
		}
		if body == nil {
			continue // a heartbeat
		}
		c.received.Add(1)
		if err := c.handle(ctx, body); ack != nil {
			ack(err)
		}
	}
}

// handle applies one message; the error is for ack (nil: done with it).
func (c *Consumer) handle(ctx context.Context, body []byte) error {
	m, err := Decode(body)
	if err == nil {
		_, err = c.Service.Apply(ctx, m, "queue")
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrMalformed):
		c.deadLetters.Add(1)
		c.log().Warn("invalidate: malformed queued message set aside (dead letter)", "err", err, "bytes", len(body))
		if c.DeadLetter != nil {
			c.DeadLetter(body, err)
		}
		return nil // never redeliver what can never be applied
	}
	c.log().Error("invalidate: applying a queued message; asking for redelivery", "err", err)
	return err
}

// repair marks every page generated before w.End, then clears the window.
func (c *Consumer) repair(w *Window) error {
	var keys []string
	err := c.Pages.KeysGeneratedBefore(w.End, func(k string) bool {
		keys = append(keys, k)
		return true
	})
	if err != nil {
		return err
	}
	n, err := c.Service.MarkKeys(keys, edge.PrioritySweep, "outage")
	if err != nil {
		return err
	}
	c.repaired.Add(int64(n))
	c.log().Warn("invalidate: message source back after an outage; pages generated before its end marked for regeneration",
		"outage_start", w.Start, "outage_end", w.End, "pages", n)
	return c.State.SetState(outageState, nil)
}

func (c *Consumer) loadWindow() (*Window, error) {
	b, err := c.State.State(outageState)
	if err != nil || b == nil {
		return nil, err
	}
	w := new(Window)
	if err := json.Unmarshal(b, w); err != nil {
		return nil, fmt.Errorf("invalidate: outage window %q: %w", b, err)
	}
	return w, nil
}

func (c *Consumer) saveWindow(w *Window) error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return c.State.SetState(outageState, b)
}

func (c *Consumer) outageAfter() time.Duration {
	if c.OutageAfter <= 0 {
		return time.Minute
	}
	return c.OutageAfter
}

func (c *Consumer) retryDelay() time.Duration {
	if c.RetryDelay <= 0 {
		return time.Second
	}
	return c.RetryDelay
}

func (c *Consumer) log() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// DeadLetterLog appends malformed queued messages to a file, one JSON
// object a line: {"time":…, "error":…, "body":…} (body as a string when it
// is UTF-8, else "body_base64"), each line synced. edge keeps it at
// <store.root>/@edge/deadletter.log. It is safe for concurrent use.
type DeadLetterLog struct {
	mu sync.Mutex // serialises writes to f
	f  *os.File
}

// maxDeadLetterBody bounds the body kept per dead letter.
const maxDeadLetterBody = 64 << 10

// OpenDeadLetterLog opens (creating) the file at path for appending.
func OpenDeadLetterLog(path string) (*DeadLetterLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("invalidate: dead-letter log: %w", err)
	}
	return &DeadLetterLog{f: f}, nil
}

// Record appends one dead letter; failures are returned (and the Consumer
// has already logged the message).
func (l *DeadLetterLog) Record(body []byte, cause error) error {
	entry := struct {
		Time      time.Time `json:"time"`
		Error     string    `json:"error"`
		Body      string    `json:"body,omitempty"`
		Base64    []byte    `json:"body_base64,omitempty"`
		Truncated bool      `json:"truncated,omitempty"`
	}{Time: time.Now().UTC(), Error: cause.Error()}
	if len(body) > maxDeadLetterBody {
		body, entry.Truncated = body[:maxDeadLetterBody], true
	}
	if utf8.Valid(body) {
		entry.Body = string(body)
	} else {
		entry.Base64 = body
	}
	b, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("invalidate: dead-letter log: %w", err)
	}
	return l.f.Sync()
}

// Close closes the file.
func (l *DeadLetterLog) Close() error { return l.f.Close() }
