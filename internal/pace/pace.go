// Package pace owns the one rate limiter edge uses for background work
// (bulk runs, regeneration): events spaced at least 1/rate apart, a token
// bucket of depth one, so there is no burst after an idle spell.
package pace

import (
	"context"
	"sync"
	"time"
)

// Limiter spaces events evenly. A nil *Limiter never waits. It is safe for
// concurrent use.
type Limiter struct {
	every time.Duration
	mu    sync.Mutex // protects next
	next  time.Time  // the earliest time the next event may start
}

// New returns a Limiter for perSecond events per second, or nil (no limit)
// when perSecond ≤ 0.
func New(perSecond float64) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	every := time.Duration(float64(time.Second) / perSecond)
	if every <= 0 {
		return nil
	}
	return &Limiter{every: every}
}

// Wait blocks until the caller's turn, or returns ctx's error if ctx ends
// first (the turn is then lost, which only slows the work down).
func (l *Limiter) Wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = at.Add(l.every)
	l.mu.Unlock()

	d := at.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
