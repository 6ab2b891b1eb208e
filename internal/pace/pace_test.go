package pace

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestLimiterSpacesEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(10) // one every 100ms
		start := time.Now()
		for range 5 {
			if err := l.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if got := time.Since(start); got != 400*time.Millisecond {
			t.Fatalf("5 events took %v, want 400ms (the first at once)", got)
		}
		time.Sleep(time.Hour) // idle: no burst credit builds up
		start = time.Now()
		_ = l.Wait(context.Background())
		_ = l.Wait(context.Background())
		if got := time.Since(start); got != 100*time.Millisecond {
			t.Fatalf("after idling, 2 events took %v, want 100ms", got)
		}
	})
}

func TestNilLimiterAndCancel(t *testing.T) {
	if New(0) != nil || New(-1) != nil {
		t.Fatal("rate ≤ 0 must mean no limiter")
	}
	var l *Limiter
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		l := New(1)
		_ = l.Wait(context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := l.Wait(ctx); err == nil {
			t.Fatal("Wait with a cancelled context returned nil")
		}
	})
}
