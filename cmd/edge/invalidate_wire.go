package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/memcache"
	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/internal/storewire"
	"github.com/pregen/edge/invalidate"
	"golang.org/x/sync/errgroup"
)

// Interface guards for the invalidation wiring.
var (
	_ invalidate.Index     = (*store.Store)(nil)
	_ invalidate.Marks     = (*store.Store)(nil)
	_ invalidate.Pages     = (*store.Store)(nil)
	_ invalidate.State     = (*store.Store)(nil)
	_ invalidate.Stale     = (*store.Store)(nil)
	_ invalidate.Memory    = (*memcache.Cache)(nil)
	_ invalidate.Generator = (*gen.Generator)(nil)
)

// RegenConfig configures the regeneration of invalidated pages (the
// "regen" section). Zero values mean the defaults written beside them.
type RegenConfig struct {
	// Concurrency is the number of regeneration workers. Default 2.
	Concurrency int `yaml:"concurrency"`
	// Rate is the most regenerations started per second. Default 10.
	Rate float64 `yaml:"rate"`
	// MaxAttempts: failed regenerations of a page before its mark is left
	// for the sweep. Default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff is the wait after a first failure, doubled after each
	// further one (at most 10m). Default 5s.
	Backoff time.Duration `yaml:"backoff"`
	// Schedule, when set, holds marks and drains them only at these
	// times (batch mode): five cron fields, minute hour day-of-month
	// month day-of-week, in the server's local time, e.g. "0 3,15 * * *".
	// Default "" (drain at once).
	Schedule string `yaml:"schedule"`
}

// QueueConfig configures the invalidation queue consumer (the "queue"
// section; the queue itself comes with cluster mode).
type QueueConfig struct {
	// OutageAfter: when the message source has been unreachable this long,
	// the outage is recorded and, once it is back, every page generated
	// before its end is regenerated at sweep priority. Default 1m.
	OutageAfter time.Duration `yaml:"outage_after"`
}

// DefaultRegenConfig and DefaultQueueConfig return the defaults.
func DefaultRegenConfig() RegenConfig {
	return RegenConfig{Concurrency: 2, Rate: 10, MaxAttempts: 5, Backoff: 5 * time.Second}
}

func DefaultQueueConfig() QueueConfig { return QueueConfig{OutageAfter: time.Minute} }

// validate checks the regen section; bad builds the ConfigError.
func (r RegenConfig) validate(bad func(key, format string, args ...any) error) error {
	switch {
	case r.Concurrency <= 0:
		return bad("regen.concurrency", "must be positive")
	case r.Rate <= 0:
		return bad("regen.rate", "must be a positive number of pages per second")
	case r.MaxAttempts <= 0:
		return bad("regen.max_attempts", "must be positive")
	case r.Backoff <= 0:
		return bad("regen.backoff", "must be a positive duration such as 5s")
	}
	if r.Schedule != "" {
		if _, err := invalidate.ParseSchedule(r.Schedule, nil); err != nil {
			return bad("regen.schedule", "%v", err)
		}
	}
	return nil
}

func (q QueueConfig) validate(bad func(key, format string, args ...any) error) error {
	if q.OutageAfter <= 0 {
		return bad("queue.outage_after", "must be a positive duration such as 1m")
	}
	return nil
}

// invalidation is the invalidation side of a running edge: the Service
// behind POST /invalidate, GET /impact and the proxy's OnStale, the
// Regenerator draining the marks, and (once cluster mode brings a Source)
// the queue Consumer.
type invalidation struct {
	svc        *invalidate.Service
	regen      *invalidate.Regenerator
	consumer   *invalidate.Consumer // nil without a Source
	deadLetter *invalidate.DeadLetterLog
	store      *store.Store
}

// newInvalidation builds the invalidation side from its config and the
// parts build() made. source may be nil (no queue yet); root is
// store.root, for the dead-letter log; timeout bounds one regeneration.
func newInvalidation(rc RegenConfig, qc QueueConfig, keys *cachekey.Normalizer, st *store.Store,
	mem *memcache.Cache, g *gen.Generator, source invalidate.Source, root string,
	timeout time.Duration, log *slog.Logger) (*invalidation, error) {
	var sched *invalidate.Schedule
	if rc.Schedule != "" {
		var err error
		if sched, err = invalidate.ParseSchedule(rc.Schedule, nil); err != nil {
			return nil, fmt.Errorf("regen.schedule: %w", err)
		}
	}
	regen := &invalidate.Regenerator{
		Queue: storewire.Queue{Store: st}, Generator: g, Pages: st, Memory: mem, Keys: keys,
		Concurrency: rc.Concurrency, Rate: rc.Rate, MaxAttempts: rc.MaxAttempts,
		Backoff: rc.Backoff, Timeout: timeout, Schedule: sched, Logger: log,
	}
	svc := &invalidate.Service{
		Keys: keys, Index: st, Marks: st, Pages: st, Memory: mem,
		OnMarked: regen.Wake, Logger: log,
	}
	inv := &invalidation{svc: svc, regen: regen, store: st}
	if source != nil {
		dl, err := invalidate.OpenDeadLetterLog(filepath.Join(root, "@edge", "deadletter.log"))
		if err != nil {
			return nil, err
		}
		inv.deadLetter = dl
		inv.consumer = &invalidate.Consumer{
			Source: source, Service: svc, State: st, Pages: st, OutageAfter: qc.OutageAfter, Logger: log,
			DeadLetter: func(body []byte, cause error) {
				if err := dl.Record(body, cause); err != nil {
					log.Error("invalidate: writing the dead-letter log", "err", err)
				}
			},
		}
	}
	return inv, nil
}

// run runs the regeneration workers (and the consumer, if any) until ctx
// is done.
func (inv *invalidation) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return inv.regen.Run(gctx) })
	if inv.consumer != nil {
		g.Go(func() error { return inv.consumer.Run(gctx) })
	}
	err := g.Wait()
	if inv.deadLetter != nil {
		if cerr := inv.deadLetter.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// InvalidationStatus is the invalidation part of the /status document.
type InvalidationStatus struct {
	Pending      map[string]int64 `json:"pending"` // marks waiting or being regenerated, by priority
	Regenerating int              `json:"regenerating"`
	Dropped      int64            `json:"dropped"`      // left for the sweep after max_attempts
	Deduplicated int64            `json:"deduplicated"` // marks collapsed into a waiting one
	Marks        map[string]int64 `json:"marks"`        // by source
	Outcomes     map[string]int64 `json:"regenerations"`
	Schedule     string           `json:"schedule,omitempty"`
}

func (inv *invalidation) status() InvalidationStatus {
	ms := inv.store.MarkStats()
	st := InvalidationStatus{
		Pending: map[string]int64{}, Regenerating: ms.Claimed, Dropped: ms.Dropped, Deduplicated: ms.Collapsed,
		Marks: inv.svc.MarksBySource(), Outcomes: inv.regen.Stats().Outcomes,
	}
	for p := edge.Priority(0); p < edge.NumPriorities; p++ {
		st.Pending[p.String()] = ms.Pending[p]
	}
	if inv.regen.Schedule != nil {
		st.Schedule = inv.regen.Schedule.String()
	}
	return st
}
