package origin

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pregen/edge"
)

// queuedBudget returns a budget whose waiters announce themselves on the
// returned channel once queued.
func queuedBudget(slots, maxQueued int) (*Budget, <-chan edge.Priority) {
	b := NewBudget(slots, maxQueued)
	ch := make(chan edge.Priority, 64)
	b.testHookQueued = func(p edge.Priority) { ch <- p }
	return b, ch
}

type grant struct {
	id      int
	release func()
	err     error
}

// acquireAsync starts an Acquire and waits until it is queued.
func acquireAsync(t *testing.T, ctx context.Context, b *Budget, queued <-chan edge.Priority, p edge.Priority, id int, out chan<- grant) {
	t.Helper()
	go func() {
		r, err := b.Acquire(ctx, p)
		out <- grant{id, r, err}
	}()
	if got := <-queued; got != p {
		t.Fatalf("queued priority %v, want %v", got, p)
	}
}

func mustAcquire(t *testing.T, b *Budget, p edge.Priority) func() {
	t.Helper()
	r, err := b.Acquire(context.Background(), p)
	if err != nil {
		t.Fatalf("Acquire(%v): %v", p, err)
	}
	return r
}

func TestBudgetPriorityOrder(t *testing.T) {
	b, queued := queuedBudget(1, 0)
	hold := mustAcquire(t, b, edge.PriorityMiss)
	out := make(chan grant, 4)
	acquireAsync(t, context.Background(), b, queued, edge.PriorityBulk, 1, out)
	acquireAsync(t, context.Background(), b, queued, edge.PrioritySweep, 2, out)
	acquireAsync(t, context.Background(), b, queued, edge.PriorityMiss, 3, out)
	if b.Queued(edge.PriorityBulk) != 1 || b.Queued(edge.PriorityMiss) != 1 || b.InUse() != 1 {
		t.Fatalf("queued bulk=%d miss=%d inUse=%d", b.Queued(edge.PriorityBulk), b.Queued(edge.PriorityMiss), b.InUse())
	}

	hold()
	for _, want := range []int{3, 2, 1} { // miss, sweep, bulk
		g := <-out
		if g.err != nil || g.id != want {
			t.Fatalf("granted id %d (err %v), want %d", g.id, g.err, want)
		}
		if b.InUse() != 1 {
			t.Fatalf("InUse = %d, want 1", b.InUse())
		}
		g.release()
	}
	if b.InUse() != 0 {
		t.Fatalf("InUse = %d after all released", b.InUse())
	}
}

func TestBudgetFIFOWithinPriority(t *testing.T) {
	b, queued := queuedBudget(1, 0)
	hold := mustAcquire(t, b, edge.PrioritySweep)
	out := make(chan grant, 8)
	for i := range 5 {
		acquireAsync(t, context.Background(), b, queued, edge.PrioritySweep, i, out)
	}
	hold()
	for want := range 5 {
		g := <-out
		if g.err != nil || g.id != want {
			t.Fatalf("granted id %d (err %v), want %d", g.id, g.err, want)
		}
		g.release()
	}
}

func TestBudgetCancelLeavesNoSlot(t *testing.T) {
	b, queued := queuedBudget(1, 0)
	hold := mustAcquire(t, b, edge.PriorityMiss)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan grant, 1)
	acquireAsync(t, ctx, b, queued, edge.PriorityInvalidate, 1, out)
	cancel()
	g := <-out
	if !errors.Is(g.err, context.Canceled) || g.release != nil {
		t.Fatalf("Acquire after cancel = %v, %v", g.release != nil, g.err)
	}
	if n := b.Queued(edge.PriorityInvalidate); n != 0 {
		t.Fatalf("Queued = %d after cancel", n)
	}
	hold()
	hold() // idempotent
	if b.InUse() != 0 {
		t.Fatalf("InUse = %d, want 0", b.InUse())
	}
	// An already-cancelled ctx fails even with a free slot.
	if _, err := b.Acquire(ctx, edge.PriorityMiss); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire(cancelled ctx) = %v", err)
	}

	// Race cancellation against grant many times: no slot may leak.
	for range 200 {
		hold := mustAcquire(t, b, edge.PriorityMiss)
		ctx, cancel := context.WithCancel(context.Background())
		acquireAsync(t, ctx, b, queued, edge.PriorityBulk, 0, out)
		go cancel()
		hold()
		if g := <-out; g.err == nil {
			g.release()
		}
		if b.InUse() != 0 || b.Queued(edge.PriorityBulk) != 0 {
			t.Fatalf("InUse=%d Queued=%d after race", b.InUse(), b.Queued(edge.PriorityBulk))
		}
	}
}

func TestBudgetOverload(t *testing.T) {
	b, queued := queuedBudget(1, 2)
	hold := mustAcquire(t, b, edge.PriorityMiss)
	out := make(chan grant, 4)
	acquireAsync(t, context.Background(), b, queued, edge.PriorityBulk, 1, out)
	acquireAsync(t, context.Background(), b, queued, edge.PriorityBulk, 2, out)
	if _, err := b.Acquire(context.Background(), edge.PriorityBulk); !errors.Is(err, edge.ErrOverloaded) {
		t.Fatalf("third bulk waiter: %v, want ErrOverloaded", err)
	}
	// The bound is per priority: a miss still queues.
	acquireAsync(t, context.Background(), b, queued, edge.PriorityMiss, 3, out)
	hold()
	for range 3 {
		g := <-out
		if g.err != nil {
			t.Fatal(g.err)
		}
		g.release()
	}
	if b.InUse() != 0 {
		t.Fatalf("InUse = %d", b.InUse())
	}
}

func TestBudgetSetSlots(t *testing.T) {
	b, queued := queuedBudget(1, 0)
	hold := mustAcquire(t, b, edge.PriorityMiss)
	out := make(chan grant, 4)
	acquireAsync(t, context.Background(), b, queued, edge.PrioritySweep, 1, out)
	acquireAsync(t, context.Background(), b, queued, edge.PrioritySweep, 2, out)
	b.SetSlots(3) // grows: both waiters granted at once
	g1, g2 := <-out, <-out
	if g1.err != nil || g2.err != nil || b.InUse() != 3 {
		t.Fatalf("after grow: %v %v InUse=%d", g1.err, g2.err, b.InUse())
	}
	b.SetSlots(1) // shrinks: held slots stay, new work waits
	acquireAsync(t, context.Background(), b, queued, edge.PriorityMiss, 3, out)
	hold()
	g1.release()
	if b.InUse() != 1 || b.Queued(edge.PriorityMiss) != 1 {
		t.Fatalf("after shrink: InUse=%d Queued=%d", b.InUse(), b.Queued(edge.PriorityMiss))
	}
	g2.release()
	g3 := <-out
	if g3.id != 3 || g3.err != nil {
		t.Fatalf("waiter after shrink: %+v", g3)
	}
	g3.release()
	if b.InUse() != 0 || b.Slots() != 1 {
		t.Fatalf("InUse=%d Slots=%d", b.InUse(), b.Slots())
	}
}

func TestBudgetStress(t *testing.T) {
	const (
		slots      = 4
		goroutines = 16
		rounds     = 200
	)
	b := NewBudget(slots, 0)
	var cur, peak, granted, cancelled atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range rounds {
				p := edge.Priority(rng.IntN(int(edge.NumPriorities)))
				ctx, cancel := context.WithCancel(context.Background())
				if rng.IntN(4) == 0 {
					cancel() // some waiters give up, before or while queued
				}
				release, err := b.Acquire(ctx, p)
				cancel()
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						t.Errorf("Acquire: %v", err)
						return
					}
					cancelled.Add(1)
					continue
				}
				granted.Add(1)
				n := cur.Add(1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				cur.Add(-1)
				release()
				release()
			}
		})
	}
	wg.Wait()
	if peak.Load() > slots {
		t.Fatalf("peak concurrency %d > %d slots", peak.Load(), slots)
	}
	if granted.Load()+cancelled.Load() != goroutines*rounds {
		t.Fatalf("granted %d + cancelled %d != %d", granted.Load(), cancelled.Load(), goroutines*rounds)
	}
	if b.InUse() != 0 {
		t.Fatalf("InUse = %d after stress", b.InUse())
	}
	for p := range edge.NumPriorities {
		if n := b.Queued(p); n != 0 {
			t.Fatalf("Queued(%v) = %d after stress", p, n)
		}
	}
}
