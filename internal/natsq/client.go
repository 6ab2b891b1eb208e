package natsq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says where the NATS server is and how edge uses it. Zero values
// mean the defaults written beside them.
type Config struct {
	// URL of the NATS server(s), comma-separated ("nats://127.0.0.1:4222").
	// Required.
	URL string
	// Prefix names edge's subjects (prefix.work.>, prefix.events,
	// prefix.dead.>) and, upper-cased, its streams (PREFIX_WORK, …) and its
	// tag bucket (PREFIX_TAGS), so that several sites can share one NATS.
	// Letters, digits, '-' and '_' only. Default "edge".
	Prefix string
	// Name is this process's name for the server (connection name). Default
	// "edge".
	Name string
	// AckWait is how long a worker may hold a job without a sign of life
	// before it is handed to another worker (workers signal progress every
	// AckWait/3 while a page renders). Default 30s.
	AckWait time.Duration
	// MaxDeliver bounds the deliveries of one job; a job that failed that
	// often goes to the dead-letter subject. Default 5.
	MaxDeliver int
	// DedupWindow is how long a job's Nats-Msg-Id is remembered: the same
	// job published again within it (a repeated gen --enqueue, an outbox
	// item published twice) is dropped by the server. Default 10m.
	DedupWindow time.Duration
	// EventsMaxAge is how long invalidation events are kept for edges that
	// are down or disconnected. Default 24h.
	EventsMaxAge time.Duration
	// Logger receives connection changes. Nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.URL == "" {
		return errors.New("natsq: no URL")
	}
	if c.Prefix == "" {
		c.Prefix = "edge"
	}
	for _, r := range c.Prefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("natsq: prefix %q: letters, digits, '-' and '_' only", c.Prefix)
		}
	}
	if c.Name == "" {
		c.Name = "edge"
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = 10 * time.Minute
	}
	if c.EventsMaxAge <= 0 {
		c.EventsMaxAge = 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Client is one connection to NATS and the streams edge uses on it. It
// connects in the background and reconnects for ever, so it can be made
// while the server is down; operations fail with ErrUnavailable until the
// server answers. It is safe for concurrent use.
type Client struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream

	mu    sync.Mutex // protects ready, tags
	ready bool       // streams and bucket exist
	tags  jetstream.KeyValue
}

// Connect makes a Client. It fails only on a bad Config; an unreachable
// server is retried in the background.
func Connect(cfg Config) (*Client, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	nc, err := nats.Connect(cfg.URL,
		nats.Name(cfg.Name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		// Publications made while disconnected would be sent silently
		// later or lost; fail them instead (the outbox keeps them).
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				return // closed by us
			}
			log.Warn("natsq: disconnected from NATS; retrying", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("natsq: reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsq: connect %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsq: %w", err)
	}
	return &Client{cfg: cfg, nc: nc, js: js}, nil
}

// Close closes the connection.
func (c *Client) Close() { c.nc.Close() }

// Connected reports whether the connection is up.
func (c *Client) Connected() bool { return c.nc.IsConnected() }

// Config returns the configuration in force (defaults filled in).
func (c *Client) Config() Config { return c.cfg }

// Names of the streams, subjects, bucket and consumers.
func (c *Client) upper() string               { return strings.ToUpper(c.cfg.Prefix) }
func (c *Client) workStream() string          { return c.upper() + "_WORK" }
func (c *Client) eventsStream() string        { return c.upper() + "_EVENTS" }
func (c *Client) deadStream() string          { return c.upper() + "_DEAD" }
func (c *Client) tagBucket() string           { return c.upper() + "_TAGS" }
func (c *Client) workSubject(k string) string { return c.cfg.Prefix + ".work." + k }
func (c *Client) eventsSubject() string       { return c.cfg.Prefix + ".events" }
func (c *Client) deadSubject(k string) string { return c.cfg.Prefix + ".dead." + k }

// workers is the durable consumer all workers share.
const workers = "workers"

// ensure creates (or updates) the streams and the tag bucket once the
// server answers; later calls cost nothing.
func (c *Client) ensure(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		return nil
	}
	if !c.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to %s", ErrUnavailable, c.cfg.URL)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	streams := []jetstream.StreamConfig{{
		Name: c.workStream(), Subjects: []string{c.workSubject(">")},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
		Duplicates: c.cfg.DedupWindow,
	}, {
		Name: c.eventsStream(), Subjects: []string{c.eventsSubject()},
		Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
		MaxAge: c.cfg.EventsMaxAge, Duplicates: c.cfg.DedupWindow,
	}, {
		Name: c.deadStream(), Subjects: []string{c.deadSubject(">")},
		Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
		MaxAge: 7 * 24 * time.Hour,
	}}
	for _, sc := range streams {
		if _, err := c.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("%w: stream %s: %v", ErrUnavailable, sc.Name, err)
		}
	}
	_, err := c.js.CreateOrUpdateConsumer(ctx, c.workStream(), jetstream.ConsumerConfig{
		Durable: workers, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: c.cfg.AckWait, MaxDeliver: c.cfg.MaxDeliver, MaxAckPending: 10000,
	})
	if err != nil {
		return fmt.Errorf("%w: consumer %s: %v", ErrUnavailable, workers, err)
	}
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: c.tagBucket(), Description: "edge: tag → keys of the pages carrying it",
		History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("%w: bucket %s: %v", ErrUnavailable, c.tagBucket(), err)
	}
	c.tags, c.ready = kv, true
	return nil
}

// Delete removes every stream and the bucket this Client's prefix names
// (tests; an operator starting over).
func (c *Client) Delete(ctx context.Context) error {
	var errs []error
	for _, s := range []string{c.workStream(), c.eventsStream(), c.deadStream()} {
		if err := c.js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, err)
		}
	}
	if err := c.js.DeleteKeyValue(ctx, c.tagBucket()); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		errs = append(errs, err)
	}
	c.mu.Lock()
	c.ready, c.tags = false, nil
	c.mu.Unlock()
	return errors.Join(errs...)
}

// unavailable wraps err with ErrUnavailable when the connection is down
// (so callers can tell an outage from a refusal).
func (c *Client) unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrBucketNotFound) {
		// The server may have lost its streams (a new one, an empty store):
		// make them again on the next call.
		c.mu.Lock()
		c.ready, c.tags = false, nil
		c.mu.Unlock()
	}
	if !c.nc.IsConnected() || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}
