package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pregen/edge"
	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/natsq"
	"github.com/pregen/edge/internal/origin"
	"github.com/pregen/edge/internal/store"
)

// jobRunner makes the page of one work-queue job through the generator,
// as a miss would, at bulk priority for bulk jobs and invalidate priority
// for regenerations. Safe for concurrent use.
type jobRunner struct {
	keys    *cachekey.Normalizer
	gen     *gen.Generator
	pages   interface{ Delete(key string) error }
	drop    func(key string) // drops a memory copy; may be nil
	timeout time.Duration
	// announce, if set (nats.regenerate: workers), tells the edges that a
	// regenerated page changed or is gone; a failure retries the job.
	announce func(ctx context.Context, key string) error

	ok, unchanged, gone, notStorable atomic.Int64
}

// handle is natsq.Worker.Handle: nil when the page is made (or is gone, or
// may not be stored: nothing to retry), an error to retry later (origin
// down, 5xx, write failure), natsq.ErrPoison for a key that no longer
// normalises to itself.
func (r *jobRunner) handle(ctx context.Context, j natsq.Job) error {
	prio := edge.PriorityBulk
	if j.Kind == natsq.KindRegen {
		prio = edge.PriorityInvalidate
	}
	f, err := fillFor(r.keys, j.Key, prio)
	if err != nil {
		return fmt.Errorf("%w: %v", natsq.ErrPoison, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := r.gen.Generate(ctx, f)
	if err != nil {
		return err
	}
	changed := true
	switch {
	case res.Negative && res.Page != nil && (res.Page.Status == 404 || res.Page.Status == 410):
		if err := r.pages.Delete(j.Key); err != nil {
			return err
		}
		r.gone.Add(1)
	case !res.Cacheable && res.Page != nil && (res.Page.Status >= 500 || res.Page.Status == 429):
		return fmt.Errorf("origin answered %d", res.Page.Status)
	case !res.Cacheable:
		r.notStorable.Add(1)
		return nil
	case res.StoreErr != nil:
		return res.StoreErr
	case res.Changed:
		r.ok.Add(1)
	default:
		r.unchanged.Add(1)
		changed = false
	}
	if r.drop != nil {
		r.drop(j.Key)
	}
	if changed && j.Kind == natsq.KindRegen && r.announce != nil {
		return r.announce(ctx, j.Key)
	}
	return nil
}

// fillFor rebuilds the origin request of a key: "/path?q" is served by the
// first configured host, "host/path?q" names its host.
func fillFor(keys *cachekey.Normalizer, key string, prio edge.Priority) (edge.Fill, error) {
	res, err := keys.FromURL(keyURL(key))
	switch {
	case err != nil:
		return edge.Fill{}, err
	case res.Bypass || string(res.Key) != key:
		return edge.Fill{}, fmt.Errorf("key %q normalises to %q under the current rules", key, res.Key)
	}
	return edge.Fill{Key: key, Host: string(res.Host), URI: string(res.URI), Priority: prio}, nil
}

// workerCmd is `edge worker`: it takes jobs from the cluster's work queue
// and makes their pages into its store until stopped or, with
// -until-empty, until the queue is drained.
func workerCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", stderr)
	var cf commonFlags
	fs.StringVar(&cf.config, "config", "", "YAML config `file` (defaults are built in)")
	fs.StringVar(&cf.origin, "origin", "", "origin `URL` (overrides origin.url)")
	fs.StringVar(&cf.root, "root", "", "store `directory` (overrides store.root)")
	natsURL := fs.String("nats", "", "NATS `URL` (overrides nats.url)")
	conc := fs.Int("concurrency", 0, "jobs at once (`N`; default nats.work_concurrency)")
	untilEmpty := fs.Bool("until-empty", false, "exit once the work queue is drained")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if *natsURL != "" {
		cfg.NATS.URL = *natsURL
	}
	if *conc > 0 {
		cfg.NATS.WorkConcurrency = *conc
	}
	if cfg.NATS.URL == "" {
		return fmt.Errorf("%w: worker: %v", errUsage, errNoNATS)
	}
	logger := newGenLogger(cfg, stderr)
	w := &workerMain{Config: cfg, UntilEmpty: *untilEmpty, Logger: logger}
	err = w.Run(ctx)
	s := w.stats()
	fmt.Fprintf(stdout, "edge worker: %d jobs done (%d pages written, %d unchanged, %d gone, %d not storable), %d retried, %d dead letters\n",
		s.Done, w.runner.ok.Load(), w.runner.unchanged.Load(), w.runner.gone.Load(), w.runner.notStorable.Load(), s.Retried, s.Dead)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// workerMain is one edge worker: store, origin, generator and the queue.
// Tests run it in-process. Run may be called once.
type workerMain struct {
	Config     Config
	UntilEmpty bool
	Logger     *slog.Logger

	runner *jobRunner
	worker *natsq.Worker
}

func (w *workerMain) stats() natsq.WorkerStats {
	if w.worker == nil {
		return natsq.WorkerStats{}
	}
	return w.worker.Stats()
}

// Run works until ctx is done or (UntilEmpty) the queue is drained.
func (w *workerMain) Run(ctx context.Context) error {
	cfg, log := w.Config, w.Logger
	if log == nil {
		log = slog.Default()
	}
	keys, err := genKeys(cfg, "config")
	if err != nil {
		return err
	}
	st, err := store.Open(cfg.Store.Root, store.Options{NoSync: cfg.Store.NoSync, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the store", "err", err)
		}
	}()
	// With an S3 tier the worker's pages go to S3 first, then its disk.
	var pages interface {
		gen.Store
		Delete(key string) error
	} = st
	s3t, err := newS3Tier(cfg.S3, st, log)
	if err != nil {
		return &ConfigError{File: "config", Key: "s3", Err: err}
	}
	if s3t != nil {
		pages = s3t
		defer runS3Tier(s3t, log, "edge worker")()
	}
	oc, err := origin.New(origin.Config{
		URL: cfg.Origin.URL, ConnectTimeout: cfg.Origin.ConnectTimeout,
		FirstByteTimeout: cfg.Origin.FirstByteTimeout, Timeout: cfg.Origin.Timeout,
		MaxConns: cfg.Origin.MaxConns, MaxResponseBytes: int(cfg.Origin.MaxResponseBytes),
		Budget: origin.NewBudget(cfg.Origin.Concurrency, 0),
	})
	if err != nil {
		return &ConfigError{File: "config", Key: "origin.url", Err: err}
	}
	defer oc.Close()
	node, err := nodeName(cfg.NATS, st)
	if err != nil {
		return err
	}
	client, err := connectNATS(cfg, "edge worker "+node, log)
	if err != nil {
		return err
	}
	defer client.Close()
	rec := natsq.NewTagRecorder(client, 8192, log)
	g := &gen.Generator{
		Origin: oc, Store: taggingStore{pages, rec}, MaxObjectBytes: int(cfg.Store.MaxObjectBytes),
		GzipLevel: cfg.Store.GzipLevel, BrotliLevel: cfg.Store.BrotliLevel, Proto: cfg.Origin.ForwardedProto,
	}
	w.runner = &jobRunner{keys: keys, gen: g, pages: pages, timeout: cfg.Origin.Timeout,
		announce: announcer(cfg, client, node)}
	w.worker = &natsq.Worker{Client: client, Handle: w.runner.handle, UntilEmpty: w.UntilEmpty,
		Concurrency: workConcurrency(cfg), Logger: log}
	rctx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	recDone := make(chan struct{})
	go func() { _ = rec.Run(rctx); close(recDone) }()
	log.Info("edge worker: taking jobs", "nats", cfg.NATS.URL, "prefix", client.Config().Prefix,
		"root", cfg.Store.Root, "concurrency", w.worker.Concurrency, "until_empty", w.UntilEmpty)
	err = w.worker.Run(ctx)
	stopRec() // records what is queued, then returns
	<-recDone
	return err
}

func workConcurrency(cfg Config) int {
	if cfg.NATS.WorkConcurrency > 0 {
		return cfg.NATS.WorkConcurrency
	}
	return 2 * cfg.Origin.Concurrency
}
