package proxy

import (
	"errors"
	"sync"
	"testing"

	"github.com/pregen/edge"
)

func TestFlightJoin(t *testing.T) {
	var f flight
	c1, leader, err := f.join("/a", 2)
	if err != nil || !leader || c1 == nil {
		t.Fatalf("first join = %p, leader %v, %v; want a call, leader, nil", c1, leader, err)
	}
	if got := f.waiting(); got != 0 {
		t.Errorf("waiting() with only a leader = %d, want 0", got)
	}
	c2, leader, err := f.join("/a", 2)
	if err != nil || leader || c2 != c1 {
		t.Fatalf("second join = %p, leader %v, %v; want the leader's call %p as a waiter", c2, leader, err, c1)
	}
	c3, leader, err := f.join("/a", 2)
	if err != nil || leader || c3 != c1 {
		t.Fatalf("third join = %p, leader %v, %v; want a waiter", c3, leader, err)
	}
	if got := f.waiting(); got != 2 {
		t.Errorf("waiting() = %d, want 2", got)
	}
	c4, leader, err := f.join("/a", 2)
	if !errors.Is(err, ErrTooManyWaiters) || c4 != nil || leader {
		t.Errorf("join beyond the cap = %p, leader %v, %v; want nil, false, ErrTooManyWaiters", c4, leader, err)
	}
	if got := f.waiting(); got != 2 {
		t.Errorf("waiting() after a refused join = %d, want 2", got)
	}

	// Another key is independent of the first.
	b, leader, err := f.join("/b", 2)
	if err != nil || !leader || b == c1 {
		t.Fatalf("join of another key = %p, leader %v, %v; want a new leader", b, leader, err)
	}
	if _, _, err := f.join("/b", 2); err != nil {
		t.Fatal(err)
	}
	if got := f.waiting(); got != 3 {
		t.Errorf("waiting() over two keys = %d, want 3", got)
	}
	if got := f.inFlight(); got != 2 {
		t.Errorf("inFlight() = %d, want 2", got)
	}
}

func TestFlightZeroMaxWaiters(t *testing.T) {
	var f flight
	if _, leader, err := f.join("/a", 0); err != nil || !leader {
		t.Fatalf("leader join with max 0 = %v, %v", leader, err)
	}
	if _, _, err := f.join("/a", 0); !errors.Is(err, ErrTooManyWaiters) {
		t.Errorf("waiter join with max 0: err = %v, want ErrTooManyWaiters", err)
	}
}

func TestFlightFinishReleasesWaiters(t *testing.T) {
	var f flight
	const n = 5
	c, leader, err := f.join("/a", n)
	if err != nil || !leader {
		t.Fatal(leader, err)
	}
	want := edge.Result{Page: &edge.Page{Key: "/a", Status: 200}, Cacheable: true}
	wantErr := errors.New("boom")

	got := make(chan *call, n)
	var wg sync.WaitGroup
	for range n {
		w, leader, err := f.join("/a", n)
		if err != nil || leader {
			t.Fatal(leader, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-w.done
			got <- w
		}()
	}
	if got := f.waiting(); got != n {
		t.Errorf("waiting() = %d, want %d", got, n)
	}
	f.finish("/a", c, want, wantErr)
	wg.Wait()
	close(got)
	for w := range got {
		if w.res.Page != want.Page || !w.res.Cacheable || w.err != wantErr {
			t.Errorf("waiter saw %+v, %v; want %+v, %v", w.res, w.err, want, wantErr)
		}
	}
	if got := f.waiting(); got != 0 {
		t.Errorf("waiting() after finish = %d, want 0", got)
	}
	if got := f.inFlight(); got != 0 {
		t.Errorf("inFlight() after finish = %d, want 0", got)
	}
	// The key is free again: the next join leads a new call.
	c2, leader, err := f.join("/a", n)
	if err != nil || !leader || c2 == c {
		t.Errorf("join after finish = %p (old %p), leader %v, %v; want a new leader", c2, c, leader, err)
	}
}

func TestFlightTryLead(t *testing.T) {
	var f flight
	c, ok := f.tryLead("/a")
	if !ok || c == nil {
		t.Fatalf("tryLead on a free key = %p, %v", c, ok)
	}
	if c2, ok := f.tryLead("/a"); ok || c2 != nil {
		t.Errorf("tryLead while in flight = %p, %v; want nil, false", c2, ok)
	}
	// join finds the call tryLead started and waits on it.
	w, leader, err := f.join("/a", 1)
	if err != nil || leader || w != c {
		t.Errorf("join during tryLead's call = %p, leader %v, %v; want %p as a waiter", w, leader, err, c)
	}
	if _, ok := f.tryLead("/b"); !ok {
		t.Error("tryLead of another key refused")
	}
	f.finish("/a", c, edge.Result{}, nil)
	select {
	case <-w.done:
	default:
		t.Error("finish did not close done")
	}
	if _, ok := f.tryLead("/a"); !ok {
		t.Error("tryLead after finish refused")
	}
	// tryLead refuses while a join-led call is running too.
	var g flight
	if _, leader, _ := g.join("/c", 1); !leader {
		t.Fatal("not leader")
	}
	if _, ok := g.tryLead("/c"); ok {
		t.Error("tryLead while a miss is in flight succeeded")
	}
}
