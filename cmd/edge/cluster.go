package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/natsq"
	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/invalidate"
	"golang.org/x/sync/errgroup"
)

// Interface guards for cluster mode.
var (
	_ natsq.Outbox      = (*store.Store)(nil)
	_ invalidate.Source = (*natsq.Events)(nil)
	_ gen.Store         = taggingStore{}
)

// NATSConfig configures cluster mode (the "nats" section). With URL empty
// (the default) edge runs alone and none of this is used. Zero values mean
// the defaults written beside them.
type NATSConfig struct {
	// URL of the NATS server(s) with JetStream, e.g.
	// "nats://10.0.0.5:4222,nats://10.0.0.6:4222". Default "" (off).
	URL string `yaml:"url"`
	// Prefix of edge's subjects, streams and tag bucket, so that several
	// sites can share one NATS. Default "edge".
	Prefix string `yaml:"prefix"`
	// Node names this edge in the cluster (its event consumer). Default: a
	// random name made on first start and kept in the store.
	Node string `yaml:"node"`
	// Work makes edge serve take jobs from the work queue too, like edge
	// worker. Default false.
	Work bool `yaml:"work"`
	// Regenerate says who regenerates invalidated pages. "edges" (the
	// default; right when each edge has its own disk): every edge marks and
	// regenerates its own copies. "workers" (right with a shared page store
	// such as the S3 tier): the accepting edge puts one regen job per page
	// on the work queue, one worker makes each page, then tells every edge
	// to drop its local copies (they read the new one on the next request).
	Regenerate string `yaml:"regenerate"`
	// WorkConcurrency is the jobs a worker runs at once. Default twice
	// origin.concurrency (the origin budget still caps the renders).
	WorkConcurrency int `yaml:"work_concurrency"`
	// AckWait: a job held this long by a worker that stopped answering is
	// handed to another. Default 30s.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxDeliver: deliveries of a job before it goes to the dead-letter
	// subject (<prefix>.dead.<kind>). Default 5.
	MaxDeliver int `yaml:"max_deliver"`
	// DedupWindow: how long the server remembers job and event ids, so a
	// repeated gen --enqueue or outbox publication is dropped. Default 10m.
	DedupWindow time.Duration `yaml:"dedup_window"`
}

func (n NATSConfig) validate(bad func(key, format string, args ...any) error) error {
	if n.URL == "" {
		return nil
	}
	for _, u := range strings.Split(n.URL, ",") {
		if !strings.Contains(u, "://") && strings.Contains(u, "/") {
			return bad("nats.url", "%q is not a NATS URL such as nats://127.0.0.1:4222", u)
		}
	}
	for _, r := range n.Prefix + n.Node {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return bad("nats.prefix", "prefix and node: letters, digits, '-' and '_' only")
		}
	}
	switch n.Regenerate {
	case "", "edges", "workers":
	default:
		return bad("nats.regenerate", "must be edges or workers, not %q", n.Regenerate)
	}
	switch {
	case n.WorkConcurrency < 0:
		return bad("nats.work_concurrency", "must not be negative")
	case n.AckWait < 0:
		return bad("nats.ack_wait", "must not be negative")
	case n.MaxDeliver < 0:
		return bad("nats.max_deliver", "must not be negative")
	case n.DedupWindow < 0:
		return bad("nats.dedup_window", "must not be negative")
	}
	return nil
}

// connectNATS connects for cfg (which must have nats.url).
func connectNATS(cfg Config, name string, log *slog.Logger) (*natsq.Client, error) {
	return natsq.Connect(natsq.Config{
		URL: cfg.NATS.URL, Prefix: cfg.NATS.Prefix, Name: name, AckWait: cfg.NATS.AckWait,
		MaxDeliver: cfg.NATS.MaxDeliver, DedupWindow: cfg.NATS.DedupWindow, Logger: log,
	})
}

// nodeState is the store State name of the edge's generated node name.
const nodeState = "cluster.node"

// nodeName returns nats.node, or the name kept in the store (made once).
func nodeName(cfg NATSConfig, st *store.Store) (string, error) {
	if cfg.Node != "" {
		return cfg.Node, nil
	}
	b, err := st.State(nodeState)
	if err != nil {
		return "", err
	}
	if len(b) > 0 {
		return string(b), nil
	}
	r := make([]byte, 6)
	_, _ = rand.Read(r)
	name := "n" + hex.EncodeToString(r)
	return name, st.SetState(nodeState, []byte(name))
}

// cluster is the cluster side of a running edge: invalidations accepted
// here go to a durable outbox that the relay publishes on the fan-out
// stream (their tags resolved through the shared tag index on the way);
// other edges' invalidations arrive through the invalidation Consumer (the
// Events source); the tags of the pages made here are recorded in the
// shared index; with nats.work, jobs are taken from the work queue.
type cluster struct {
	client   *natsq.Client
	node     string
	st       *store.Store
	svc      *invalidate.Service
	relay    *natsq.Relay
	recorder *natsq.TagRecorder
	worker   *natsq.Worker // nil unless nats.work
	events   *natsq.Events
	workers  bool // nats.regenerate: workers
	// dropMemory deletes a memory copy (drop events); set by build.
	dropMemory func(key string)
	log        *slog.Logger
}

// queued reports whether a soft invalidation is handed to the workers
// (nats.regenerate: workers) rather than applied here.
func (c *cluster) queued(msg invalidate.Message) bool { return c != nil && c.workers && !msg.Hard }

// newCluster connects (in the background) and builds the cluster parts
// that need only the store; the Service and worker come later (wire).
func newCluster(cfg Config, st *store.Store, log *slog.Logger) (*cluster, error) {
	node, err := nodeName(cfg.NATS, st)
	if err != nil {
		return nil, fmt.Errorf("cluster node name: %w", err)
	}
	client, err := connectNATS(cfg, "edge "+node, log)
	if err != nil {
		return nil, &ConfigError{File: "config", Key: "nats.url", Err: err}
	}
	c := &cluster{client: client, node: node, st: st, log: log, workers: cfg.NATS.Regenerate == "workers",
		recorder: natsq.NewTagRecorder(client, 8192, log),
		events:   &natsq.Events{Client: client, Node: node, Since: time.Now()}}
	c.events.Drop = func(keys []string) {
		for _, k := range keys {
			if err := st.Delete(k); err != nil {
				log.Error("cluster: dropping a local copy", "key", k, "err", err)
			}
			if c.dropMemory != nil {
				c.dropMemory(k)
			}
		}
	}
	c.relay = &natsq.Relay{Outbox: st, Send: c.send, Logger: log}
	return c, nil
}

// accept keeps an invalidation accepted by the admin API for the other
// edges: durable in the outbox before the API answers, published by the
// relay when NATS answers.
func (c *cluster) accept(msg invalidate.Message) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := c.st.OutboxAdd(b); err != nil {
		return err
	}
	c.relay.Wake()
	return nil
}

// send publishes one outbox item: the message, with the keys the shared
// tag index knows for its tags added as URLs (pages other edges made), in
// pieces of at most invalidate.MaxItems. Ids are node-seq-piece, so a
// repeated send is dropped by the server. Those keys are also marked here.
func (c *cluster) send(ctx context.Context, seq uint64, body []byte) error {
	msg, err := invalidate.Decode(body)
	if err != nil {
		return err // refused for good
	}
	var keys []string
	for _, t := range msg.Tags {
		if err := c.client.KeysForTag(ctx, t, func(k string) bool {
			keys = append(keys, k)
			return true
		}); err != nil {
			return err
		}
	}
	if c.queued(msg) {
		return c.enqueue(ctx, seq, msg, keys)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) > 0 && !msg.Hard && c.svc != nil {
		if _, err := c.svc.MarkKeys(keys, edge.PriorityInvalidate, "cluster"); err != nil {
			c.log.Error("cluster: marking pages found through the shared tag index", "err", err)
		}
	}
	urls := make([]string, 0, len(keys))
	for _, k := range keys {
		urls = append(urls, keyURL(k))
	}
	pieces := []invalidate.Message{msg}
	room := invalidate.MaxItems - len(msg.URLs) - len(msg.Prefixes) - len(msg.Tags)
	pieces[0].URLs = append(slices.Clip(msg.URLs), urls[:min(room, len(urls))]...)
	for rest := urls[min(room, len(urls)):]; len(rest) > 0; {
		n := min(invalidate.MaxItems, len(rest))
		pieces = append(pieces, invalidate.Message{URLs: rest[:n], Hard: msg.Hard})
		rest = rest[n:]
	}
	for i, p := range pieces {
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		id := c.node + "-" + strconv.FormatUint(seq, 10) + "-" + strconv.Itoa(i)
		if err := c.client.PublishEvent(ctx, c.node, id, b); err != nil {
			return err
		}
	}
	return nil
}

// enqueue is send for nats.regenerate: workers: one regen job per page the
// message names here or the shared tag index knows (kvKeys), with ids of
// this outbox item, so a repeated send adds nothing.
func (c *cluster) enqueue(ctx context.Context, seq uint64, msg invalidate.Message, kvKeys []string) error {
	keys, err := c.svc.Resolve(ctx, msg)
	if err != nil {
		return err
	}
	keys = append(keys, kvKeys...)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	run := c.node + "-" + strconv.FormatUint(seq, 10)
	for _, k := range keys {
		if _, err := c.client.Enqueue(ctx, natsq.KindRegen, k, natsq.MsgID(run, k)); err != nil {
			return err
		}
	}
	c.log.Info("cluster: invalidation handed to the workers", "pages", len(keys))
	return nil
}

// announcer returns the worker's way to tell every edge that a page was
// regenerated (nats.regenerate: workers): a drop event, on which each edge
// deletes its local copies (memory and local disk, never a shared store)
// and reads the new page on the next request. Nil in edges mode.
func announcer(cfg Config, client *natsq.Client, node string) func(ctx context.Context, key string) error {
	if cfg.NATS.Regenerate != "workers" {
		return nil
	}
	return func(ctx context.Context, key string) error {
		return client.PublishDrop(ctx, node, []string{key})
	}
}

// keyURL turns a key back into a URL the key rules map to it: "/path?q"
// as is, "host/path?q" as "//host/path?q".
func keyURL(key string) string {
	if strings.HasPrefix(key, "/") {
		return key
	}
	return "//" + key
}

// run runs the relay, the tag recorder and (with nats.work) the worker
// until ctx is done. The invalidation Consumer runs with the invalidation
// side.
func (c *cluster) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.relay.Run(gctx) })
	g.Go(func() error { return c.recorder.Run(gctx) })
	if c.worker != nil {
		g.Go(func() error { return c.worker.Run(gctx) })
	}
	return g.Wait()
}

func (c *cluster) close() { c.client.Close() }

// ClusterStatus is the cluster part of the /status document.
type ClusterStatus struct {
	Node         string             `json:"node"`
	Connected    bool               `json:"connected"`
	Outbox       int64              `json:"outbox"` // accepted invalidations not yet published
	Published    int64              `json:"published"`
	TagsRecorded int64              `json:"tags_recorded"`
	TagsDropped  int64              `json:"tags_dropped"`
	Jobs         *natsq.WorkerStats `json:"jobs,omitempty"`
}

func (c *cluster) status() *ClusterStatus {
	if c == nil {
		return nil
	}
	rs := c.relay.Stats()
	rec, dropped := c.recorder.Stats()
	s := &ClusterStatus{Node: c.node, Connected: c.client.Connected(), Published: rs.Sent,
		TagsRecorded: rec, TagsDropped: dropped}
	if n, err := c.st.OutboxLen(); err == nil {
		s.Outbox = int64(n)
	}
	if c.worker != nil {
		ws := c.worker.Stats()
		s.Jobs = &ws
	}
	return s
}

// taggingStore is the generator's store in cluster mode: every page
// written is also recorded in the shared tag index (in the background).
type taggingStore struct {
	gen.Store
	rec *natsq.TagRecorder
}

func (t taggingStore) Put(p *edge.Page) (bool, error) {
	changed, err := t.Store.Put(p)
	if err == nil {
		t.rec.Record(p.Key, p.Tags)
	}
	return changed, err
}

// errNoNATS is edge worker's and gen -enqueue's error without nats.url.
var errNoNATS = errors.New("nats.url is not set (config nats.url or -nats URL): cluster mode needs a NATS server with JetStream")
