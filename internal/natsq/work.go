package natsq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Kinds of job, each on its own subject (prefix.work.<kind>).
const (
	KindBulk  = "bulk"  // a page of a bulk run (gen --enqueue)
	KindRegen = "regen" // a page to regenerate after an invalidation
)

// Header names on edge's messages.
const (
	hdrNode  = "Edge-Node"  // the edge that published an event
	hdrError = "Edge-Error" // why a job went to the dead letters
	hdrKind  = "Edge-Kind"
)

// MsgID is the Nats-Msg-Id of a job: the run (or invalidation) it belongs
// to and a digest of its key, so publishing it again within the dedup window
// is a no-op on the server.
func MsgID(run, key string) string {
	sum := sha256.Sum256([]byte(key))
	return run + "-" + hex.EncodeToString(sum[:12])
}

// Enqueue publishes one job (a page key) of kind with the message id id
// (see MsgID) and returns once the server has stored it (or recognised it
// as a duplicate: dup is then true).
func (c *Client) Enqueue(ctx context.Context, kind, key, id string) (dup bool, err error) {
	if err := c.ensure(ctx); err != nil {
		return false, err
	}
	m := nats.NewMsg(c.workSubject(kind))
	m.Data = []byte(key)
	ack, err := c.js.PublishMsg(ctx, m, jetstream.WithMsgID(id))
	if err != nil {
		return false, c.unavailable(fmt.Errorf("natsq: enqueue %q: %w", key, err))
	}
	return ack.Duplicate, nil
}

// Job is one unit of work handed to a Worker's handler.
type Job struct {
	Kind      string // KindBulk or KindRegen
	Key       string // the page key
	Delivered int    // 1 on the first delivery
	Last      bool   // this is the last delivery MaxDeliver allows
}

// WorkerStats are a Worker's counters since it was made.
type WorkerStats struct {
	Done, Retried, Dead int64
}

// Worker takes jobs from the work queue, Concurrency at a time, and runs
// Handle on each: nil acknowledges the job (DoubleAck: the server confirms,
// so a job is done once); an error asks for redelivery after a delay, until
// MaxDeliver deliveries, when the job goes to the dead-letter subject; an
// error wrapping ErrPoison sends it there at once. While a job runs its
// delivery is kept alive (InProgress), so only a worker that stops
// answering — killed, say — loses its jobs to other workers. Set the
// fields, then call Run once; Stats is safe for concurrent use.
type Worker struct {
	Client *Client                                // required
	Handle func(ctx context.Context, j Job) error // required
	// Concurrency is how many jobs run at once. Zero means 4.
	Concurrency int
	// UntilEmpty makes Run return once the queue is drained: nothing
	// pending and nothing held by any worker.
	UntilEmpty bool
	// RetryDelay is how long a failed job waits before its redelivery.
	// Zero means 2s.
	RetryDelay time.Duration
	// Logger: nil means the Client's.
	Logger *slog.Logger

	done, retried, dead atomic.Int64
}

// Stats returns a snapshot of the counters.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{Done: w.done.Load(), Retried: w.retried.Load(), Dead: w.dead.Load()}
}

// Run works until ctx is done (nil) or, with UntilEmpty, until the queue is
// drained (nil). Jobs in flight when ctx ends are cancelled and left
// unacknowledged: the server hands them out again.
func (w *Worker) Run(ctx context.Context) error {
	n := w.Concurrency
	if n <= 0 {
		n = 4
	}
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	delay := time.Duration(0)
	for ctx.Err() == nil {
		slots <- struct{}{} // one free slot at least
		free := 1
	more:
		for free < n {
			select {
			case slots <- struct{}{}:
				free++
			default:
				break more
			}
		}
		got, err := w.fetch(ctx, free, slots, &wg)
		for range free - got {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			delay = min(max(2*delay, 100*time.Millisecond), 5*time.Second)
			w.log().Warn("natsq: fetching work; retrying", "err", err, "in", delay)
			if !sleep(ctx, delay) {
				break
			}
			continue
		}
		delay = 0
		if got == 0 && w.UntilEmpty {
			wg.Wait() // our own jobs settle first
			if drained, err := w.drained(ctx); err == nil && drained {
				return nil
			}
		}
	}
	return nil
}

// fetch asks for up to n jobs and starts each in its own goroutine (each
// holding one of the n slots it was given); it returns how many started.
func (w *Worker) fetch(ctx context.Context, n int, slots chan struct{}, wg *sync.WaitGroup) (int, error) {
	c := w.Client
	if err := c.ensure(ctx); err != nil {
		return 0, err
	}
	cons, err := c.js.Consumer(ctx, c.workStream(), workers)
	if err != nil {
		return 0, c.unavailable(err)
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		return 0, c.unavailable(err)
	}
	got := 0
	for m := range batch.Messages() {
		got++
		wg.Go(func() {
			defer func() { <-slots }()
			w.run(ctx, m)
		})
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && got == 0 {
		return got, c.unavailable(err)
	}
	return got, nil
}

// drained reports whether the work queue is empty and no job is held.
func (w *Worker) drained(ctx context.Context) (bool, error) {
	c := w.Client
	cons, err := c.js.Consumer(ctx, c.workStream(), workers)
	if err != nil {
		return false, c.unavailable(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return false, c.unavailable(err)
	}
	return info.NumPending == 0 && info.NumAckPending == 0, nil
}

// run handles one delivery.
func (w *Worker) run(ctx context.Context, m jetstream.Msg) {
	c := w.Client
	j := Job{Kind: kindOf(c, m.Subject()), Key: string(m.Data())}
	if md, err := m.Metadata(); err == nil {
		j.Delivered = int(md.NumDelivered)
	}
	j.Last = j.Delivered >= c.cfg.MaxDeliver
	hctx, cancel := context.WithCancel(ctx)
	alive := make(chan struct{})
	go func() { // keep the delivery alive while the job runs
		defer close(alive)
		t := time.NewTicker(c.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	err := w.Handle(hctx, j)
	cancel()
	<-alive
	switch {
	case ctx.Err() != nil:
		return // stopping: left unacknowledged, redelivered to another worker
	case err == nil:
		actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if aerr := m.DoubleAck(actx); aerr != nil {
			w.log().Warn("natsq: acknowledging a job; it may run again", "key", j.Key, "err", aerr)
		}
		w.done.Add(1)
	case errors.Is(err, ErrPoison) || j.Last:
		w.deadLetter(ctx, m, j, err)
	default:
		w.retried.Add(1)
		w.log().Warn("natsq: job failed; it will be redelivered", "key", j.Key, "delivery", j.Delivered, "err", err)
		_ = m.NakWithDelay(w.retryDelay())
	}
}

// deadLetter publishes the job on prefix.dead.<kind> with the error, then
// terminates its delivery. If the dead letter cannot be published the job
// is left for redelivery (never dropped unrecorded).
func (w *Worker) deadLetter(ctx context.Context, m jetstream.Msg, j Job, cause error) {
	c := w.Client
	d := nats.NewMsg(c.deadSubject(j.Kind))
	d.Data = m.Data()
	d.Header.Set(hdrError, cause.Error())
	d.Header.Set(hdrKind, j.Kind)
	if _, err := c.js.PublishMsg(ctx, d); err != nil {
		w.log().Error("natsq: publishing a dead letter; the job stays queued", "key", j.Key, "err", err)
		_ = m.NakWithDelay(w.retryDelay())
		return
	}
	w.dead.Add(1)
	w.log().Error("natsq: job set aside on the dead-letter subject", "key", j.Key, "subject", d.Subject,
		"deliveries", j.Delivered, "err", cause)
	_ = m.TermWithReason("dead letter")
}

// DeadLetters returns how many dead letters of kind are kept.
func (c *Client) DeadLetters(ctx context.Context, kind string) (uint64, error) {
	if err := c.ensure(ctx); err != nil {
		return 0, err
	}
	s, err := c.js.Stream(ctx, c.deadStream())
	if err != nil {
		return 0, c.unavailable(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(c.deadSubject(kind)))
	if err != nil {
		return 0, c.unavailable(err)
	}
	return info.State.Msgs, nil
}

// Pending returns the jobs waiting in the work queue and those held by
// workers.
func (c *Client) Pending(ctx context.Context) (waiting, held uint64, err error) {
	if err := c.ensure(ctx); err != nil {
		return 0, 0, err
	}
	cons, err := c.js.Consumer(ctx, c.workStream(), workers)
	if err != nil {
		return 0, 0, c.unavailable(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, 0, c.unavailable(err)
	}
	return info.NumPending, uint64(info.NumAckPending), nil
}

func kindOf(c *Client, subject string) string {
	p := c.workSubject("")
	if len(subject) > len(p) && subject[:len(p)] == p {
		return subject[len(p):]
	}
	return subject
}

func (w *Worker) retryDelay() time.Duration {
	if w.RetryDelay <= 0 {
		return 2 * time.Second
	}
	return w.RetryDelay
}

func (w *Worker) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return w.Client.cfg.Logger
}

// sleep waits d or until ctx is done; false if ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
