package natsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishEvent publishes an encoded invalidation on the fan-out stream,
// from node, with message id id (publishing it again within the dedup
// window is a no-op). Every edge's Events receives it, except node's own.
func (c *Client) PublishEvent(ctx context.Context, node, id string, body []byte) error {
	if err := c.ensure(ctx); err != nil {
		return err
	}
	m := nats.NewMsg(c.eventsSubject())
	m.Data = body
	m.Header.Set(hdrNode, node)
	if _, err := c.js.PublishMsg(ctx, m, jetstream.WithMsgID(id)); err != nil {
		return c.unavailable(fmt.Errorf("natsq: publish event: %w", err))
	}
	return nil
}

// hdrAction marks an event that is not an invalidation: "drop" (a JSON
// list of keys whose local copies every edge deletes).
const hdrAction = "Edge-Action"

// PublishDrop tells every other edge to delete its local copies of keys
// (memory and local disk only, never a shared store): a worker made new
// pages for them (nats.regenerate: workers).
func (c *Client) PublishDrop(ctx context.Context, node string, keys []string) error {
	if err := c.ensure(ctx); err != nil {
		return err
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	m := nats.NewMsg(c.eventsSubject())
	m.Data = b
	m.Header.Set(hdrNode, node)
	m.Header.Set(hdrAction, "drop")
	if _, err := c.js.PublishMsg(ctx, m); err != nil {
		return c.unavailable(fmt.Errorf("natsq: publish drop: %w", err))
	}
	return nil
}

// Events is one edge's subscription to the fan-out stream: a durable
// consumer named after the edge, so that what is published while the edge
// is down or cut off is delivered when it is back (within EventsMaxAge).
// It satisfies invalidate.Source: Receive returns the next event published
// by another edge, a heartbeat (nil body, nil error) when the server
// answers but has nothing new, or an error wrapping ErrUnavailable. Events
// published by this edge itself are acknowledged and skipped (it applied
// them when it accepted them). Use it from one goroutine.
type Events struct {
	Client *Client // required
	// Node names this edge: its consumer is "edge-<Node>". Required, and
	// stable across restarts.
	Node string
	// Heartbeat is how long Receive waits for an event before it reports
	// a heartbeat. Zero means 2s.
	Heartbeat time.Duration
	// Drop, if set, is called with the keys of a drop event (PublishDrop)
	// from another node; Receive handles those events itself. Nil: they
	// are skipped.
	Drop func(keys []string)
	// Since is when this edge started: a consumer made for the first time
	// (a new edge, or one whose consumer expired) starts with the events
	// published since then, so that an edge that came up while NATS was
	// unreachable misses nothing published after it started. Zero: only
	// events published after the consumer is made.
	Since time.Time

	cons       jetstream.Consumer
	subscribed atomic.Bool
}

// Subscribed reports whether the edge's consumer exists on the server (it
// is made by the first Receive that reaches the server).
func (e *Events) Subscribed() bool { return e.subscribed.Load() }

// consumer finds the edge's durable consumer or makes it.
func (e *Events) consumer(ctx context.Context) (jetstream.Consumer, error) {
	c := e.Client
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name := "edge-" + e.Node
	cons, err := c.js.Consumer(ctx, c.eventsStream(), name)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	cfg := jetstream.ConsumerConfig{
		Durable: name, AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverNewPolicy, AckWait: time.Minute,
		// An edge gone for good stops holding the stream's events.
		InactiveThreshold: 7 * 24 * time.Hour,
	}
	if !e.Since.IsZero() {
		since := e.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	return c.js.CreateOrUpdateConsumer(ctx, c.eventsStream(), cfg)
}

// Receive implements invalidate.Source.
func (e *Events) Receive(ctx context.Context) (body []byte, ack func(error), err error) {
	c := e.Client
	if err := c.ensure(ctx); err != nil {
		return nil, nil, err
	}
	if e.cons == nil {
		cons, err := e.consumer(ctx)
		if err != nil {
			return nil, nil, c.unavailable(fmt.Errorf("natsq: events consumer: %w", err))
		}
		e.cons = cons
		e.subscribed.Store(true)
	}
	hb := e.Heartbeat
	if hb <= 0 {
		hb = 2 * time.Second
	}
	deadline := time.Now().Add(hb)
	for {
		wait := time.Until(deadline)
		if wait < 100*time.Millisecond {
			return nil, nil, nil // a heartbeat: reachable, nothing new
		}
		m, err := e.cons.Next(jetstream.FetchMaxWait(wait))
		switch {
		case errors.Is(err, nats.ErrTimeout) && c.nc.IsConnected():
			return nil, nil, nil
		case err != nil:
			e.cons = nil // made again next time (the server may have lost it)
			return nil, nil, c.unavailable(fmt.Errorf("natsq: events: %w", err))
		}
		if m.Headers().Get(hdrNode) == e.Node {
			_ = m.Ack()
			continue
		}
		if m.Headers().Get(hdrAction) == "drop" {
			var keys []string
			if err := json.Unmarshal(m.Data(), &keys); err == nil && e.Drop != nil {
				e.Drop(keys)
			}
			_ = m.Ack()
			continue
		}
		return m.Data(), func(err error) {
			if err == nil {
				_ = m.Ack()
				return
			}
			_ = m.NakWithDelay(time.Second)
		}, nil
	}
}
