package gen

import (
	"context"
	"sync"
	"time"
)

// pacer spaces events at least every apart (a token bucket of depth one):
// at most 1/every events per second on average, with no burst after an
// idle spell. A nil *pacer never waits. It is safe for concurrent use.
type pacer struct {
	every time.Duration
	mu    sync.Mutex // protects next
	next  time.Time  // the earliest time the next event may start
}

// newPacer returns a pacer for perSecond events per second, or nil for no
// limit (perSecond ≤ 0).
func newPacer(perSecond float64) *pacer {
	if perSecond <= 0 {
		return nil
	}
	every := time.Duration(float64(time.Second) / perSecond)
	if every <= 0 {
		return nil
	}
	return &pacer{every: every}
}

// wait blocks until the caller's turn, or returns ctx's error if ctx ends
// first (the turn is then lost, which only slows the run down).
func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = at.Add(p.every)
	p.mu.Unlock()

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
