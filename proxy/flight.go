package proxy

import (
	"sync"

	"github.com/pregen/edge"
)

// flight coalesces generations: one call per key, the other requesters
// block on its done channel (never poll). Unlike x/sync/singleflight it
// caps the waiters and lets each waiter give up on its own timer.
type flight struct {
	mu    sync.Mutex       // protects calls
	calls map[string]*call // in-flight generations by key
}

// call is one generation in flight. res, err and notAdmitted are written
// once by the leader before done is closed and only read after.
type call struct {
	done    chan struct{}
	waiters int // protected by flight.mu
	res     edge.Result
	err     error
	// notAdmitted is set by the leader before its generation when the page
	// will not be stored (the admission policy); read by waiters after done.
	notAdmitted bool
}

// join returns the call for key and whether the caller leads it (and must
// call finish). A waiter beyond maxWaiters gets ErrTooManyWaiters.
func (f *flight) join(key string, maxWaiters int) (c *call, leader bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[key]; ok {
		if c.waiters >= maxWaiters {
			return nil, false, ErrTooManyWaiters
		}
		c.waiters++
		return c, false, nil
	}
	if f.calls == nil {
		f.calls = make(map[string]*call)
	}
	c = &call{done: make(chan struct{})}
	f.calls[key] = c
	return c, true, nil
}

// leave removes a waiter that gave up before the call finished.
func (f *flight) leave(c *call) {
	f.mu.Lock()
	c.waiters--
	f.mu.Unlock()
}

// tryLead starts a call for key only if none is in flight.
func (f *flight) tryLead(key string) (*call, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.calls[key]; ok {
		return nil, false
	}
	if f.calls == nil {
		f.calls = make(map[string]*call)
	}
	c := &call{done: make(chan struct{})}
	f.calls[key] = c
	return c, true
}

// finish publishes the leader's result and releases the waiters.
func (f *flight) finish(key string, c *call, res edge.Result, err error) {
	c.res, c.err = res, err
	f.mu.Lock()
	delete(f.calls, key)
	f.mu.Unlock()
	close(c.done)
}

// inFlight reports how many generations are running.
func (f *flight) inFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// waiting reports how many requests are blocked on generations.
func (f *flight) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c.waiters
	}
	return n
}
