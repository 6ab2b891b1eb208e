package origin

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pregen/edge"
)

// DefaultMaxQueued is the per-priority queue bound NewBudget uses when given 0.
const DefaultMaxQueued = 10000

// Budget is the origin's concurrency budget shared by all kinds of work, with
// strict priorities (lower edge.Priority first) and FIFO order within a
// priority. A waiter of a lower priority is granted a slot only when no waiter
// of a higher priority is queued. Safe for concurrent use.
type Budget struct {
	mu        sync.Mutex // protects the fields below
	slots     int
	inUse     int
	maxQueued int
	queues    [edge.NumPriorities]list.List // of *waiter, FIFO

	// testHookQueued, if set, is called (without mu held) after a waiter of
	// priority p joined its queue. Tests use it to synchronise without polling.
	testHookQueued func(p edge.Priority)
}

// waiter is one blocked Acquire.
type waiter struct {
	ready   chan struct{} // closed when the slot is granted
	granted bool          // a slot was counted for this waiter; guarded by Budget.mu
}

// NewBudget returns a budget of slots concurrent origin requests (at least 1)
// and at most maxQueued waiters per priority (0 means DefaultMaxQueued).
func NewBudget(slots int, maxQueued int) *Budget {
	if slots < 1 {
		slots = 1
	}
	if maxQueued <= 0 {
		maxQueued = DefaultMaxQueued
	}
	b := &Budget{slots: slots, maxQueued: maxQueued}
	for i := range b.queues {
		b.queues[i].Init()
	}
	return b
}

// Acquire blocks until a slot is free for priority p and returns the function
// that gives it back; release is idempotent and safe to call from any
// goroutine. A priority beyond PriorityBulk is treated as PriorityBulk.
//
// If p's queue already holds maxQueued waiters, Acquire fails at once with an
// error wrapping edge.ErrOverloaded. If ctx is done before a slot is granted,
// the waiter leaves the queue and Acquire returns ctx.Err() (also when ctx was
// done on entry); no slot stays taken.
func (b *Budget) Acquire(ctx context.Context, p edge.Priority) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p >= edge.NumPriorities {
		p = edge.NumPriorities - 1
	}

	b.mu.Lock()
	if b.inUse < b.slots {
		// Waiters exist only while every slot is taken (grantLocked keeps
		// that true), so a free slot means nobody is queued ahead of us.
		b.inUse++
		b.mu.Unlock()
		return b.releaser(), nil
	}
	q := &b.queues[p]
	if q.Len() >= b.maxQueued {
		b.mu.Unlock()
		return nil, fmt.Errorf("origin: budget queue for %s work full (%d waiting): %w", p, b.maxQueued, edge.ErrOverloaded)
	}
	w := &waiter{ready: make(chan struct{})}
	elem := q.PushBack(w)
	hook := b.testHookQueued
	b.mu.Unlock()
	if hook != nil {
		hook(p)
	}

	select {
	case <-w.ready:
		return b.releaser(), nil
	case <-ctx.Done():
	}

	b.mu.Lock()
	if w.granted {
		// The slot was granted while ctx was being cancelled: hand it on.
		b.inUse--
		b.grantLocked()
	} else {
		q.Remove(elem)
	}
	b.mu.Unlock()
	return nil, ctx.Err()
}

// releaser returns the idempotent release function for one granted slot.
func (b *Budget) releaser() func() {
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		b.mu.Lock()
		b.inUse--
		b.grantLocked()
		b.mu.Unlock()
	}
}

// grantLocked hands free slots to the queued waiters, highest priority first,
// oldest first within a priority. b.mu must be held.
func (b *Budget) grantLocked() {
	for p := range b.queues {
		q := &b.queues[p]
		for b.inUse < b.slots && q.Len() > 0 {
			w := q.Remove(q.Front()).(*waiter)
			w.granted = true
			b.inUse++
			close(w.ready)
		}
		if b.inUse >= b.slots {
			return
		}
	}
}

// InUse returns the number of slots currently held.
func (b *Budget) InUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inUse
}

// Slots returns the current number of slots.
func (b *Budget) Slots() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.slots
}

// Queued returns the number of waiters of priority p.
func (b *Budget) Queued(p edge.Priority) int {
	if p >= edge.NumPriorities {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queues[p].Len()
}

// SetSlots changes the number of slots (at least 1) while the budget is in
// use, e.g. on a config reload. Growing it grants queued waiters at once;
// shrinking it takes effect as held slots are released.
func (b *Budget) SetSlots(n int) {
	if n < 1 {
		n = 1
	}
	b.mu.Lock()
	b.slots = n
	b.grantLocked()
	b.mu.Unlock()
}
