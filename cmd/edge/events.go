package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Event is one line of the status page's "recent events": a warning or
// error logged by any part of edge.
type Event struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

// recentEvents is a slog.Handler that keeps the last records at or above
// a level in a ring and passes every record on. Safe for concurrent use.
type recentEvents struct {
	next  slog.Handler
	min   slog.Level
	ring  *eventRing
	attrs string // attributes added with WithAttrs, pre-rendered
}

type eventRing struct {
	mu   sync.Mutex // protects buf and n
	buf  []Event
	n    int // events ever added
	size int
}

func newRecentEvents(next slog.Handler, min slog.Level, size int) *recentEvents {
	return &recentEvents{next: next, min: min, ring: &eventRing{buf: make([]Event, size), size: size}}
}

func (h *recentEvents) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min || h.next.Enabled(ctx, l)
}

func (h *recentEvents) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= h.min {
		var b strings.Builder
		b.WriteString(r.Message)
		b.WriteString(h.attrs)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "stack" {
				b.WriteString(" " + a.Key + "=" + a.Value.String())
			}
			return true
		})
		h.ring.add(Event{Time: r.Time, Level: r.Level.String(), Message: b.String()})
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *recentEvents) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	for _, a := range as {
		c.attrs += " " + a.Key + "=" + a.Value.String()
	}
	return &c
}

func (h *recentEvents) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

func (r *eventRing) add(e Event) {
	r.mu.Lock()
	r.buf[r.n%r.size] = e
	r.n++
	r.mu.Unlock()
}

// events returns the kept events, oldest first.
func (h *recentEvents) events() []Event {
	r := h.ring
	r.mu.Lock()
	defer r.mu.Unlock()
	k := min(r.n, r.size)
	out := make([]Event, 0, k)
	for i := r.n - k; i < r.n; i++ {
		out = append(out, r.buf[i%r.size])
	}
	return out
}
