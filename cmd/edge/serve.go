package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/pregen/edge/internal/memcache"
	"github.com/pregen/edge/internal/natsq"
	"github.com/pregen/edge/internal/origin"
	"github.com/pregen/edge/internal/s3store"
	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/invalidate"
	"github.com/pregen/edge/proxy"
	"github.com/pregen/edge/sweep"
	"golang.org/x/sync/errgroup"
)

// Interface guards: the concrete tiers satisfy the interfaces their users
// define.
var (
	_ proxy.Memory    = (*memcache.Cache)(nil)
	_ proxy.Store     = (*store.Store)(nil)
	_ proxy.Recency   = (*store.Store)(nil)
	_ proxy.FileStore = (*store.Store)(nil)
	_ proxy.Generator = (*gen.Generator)(nil)
	_ proxy.Origin    = (*origin.Client)(nil)
	_ gen.Origin      = (*origin.Client)(nil)
	_ gen.Store       = (*store.Store)(nil)
	_ gen.KnownSet    = (*store.Store)(nil)
	_ proxy.KnownKeys = (*store.Store)(nil)
)

// Main is one running edge server: the config and every part built from it.
// Tests drive the real wiring through it. Run may be called once.
type Main struct {
	Config     Config
	ConfigPath string // watched for safe reloads when set
	LogOutput  io.Writer
	// PublicListener and AdminListener, when set before Run, are used
	// instead of listening on Config.Listen / Config.Admin.Listen.
	PublicListener, AdminListener net.Listener
	// Ready, if set, is closed once both listeners accept connections.
	Ready chan struct{}

	flags   commonFlags
	logger  *slog.Logger
	recent  *recentEvents
	level   *slog.LevelVar
	started time.Time

	store   *store.Store
	budget  *store.Budget   // last-served times and eviction
	s3      *s3store.Tiered // nil without s3.bucket
	memory  *memcache.Cache
	origin  *origin.Client
	proxy   *proxy.Server
	inval   *invalidation  // stale marks, their regeneration, POST /invalidate
	cluster *cluster       // nil unless nats.url: outbox relay, tag index, events, work
	sweeper *sweep.Sweeper // the rolling sweep (off when sweep.period is 0)
	gens    *genService    // bulk runs started through POST /gen
	metrics *metrics
	cfg     atomic.Pointer[Config] // the config in force (reloads swap it)
	runCtx  context.Context        // cancelled at shutdown; bounds admin-started work
	fscking sync.Mutex             // held by the one online fsck allowed at a time

	// Test seams: budgetInterval replaces the budget's check period,
	// onEvict sees every evicted key, storeNow is the clock of last-served
	// times.
	budgetInterval time.Duration
	onEvict        func(key string)
	storeNow       func() time.Time
}

// Run builds edge, serves until ctx is done, then drains: the listeners
// stop accepting, requests and generations in flight finish (bounded by
// server.shutdown_timeout), and the store is closed.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	m.cfg.Store(&cfg)
	m.started = time.Now()
	m.level = new(slog.LevelVar)
	lvl, _ := parseLevel(cfg.Log.Level)
	m.level.Set(lvl)
	out := m.LogOutput
	if out == nil {
		out = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: m.level}
	var h slog.Handler = slog.NewTextHandler(out, opts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(out, opts)
	}
	// Warnings and errors are also kept for the status page.
	m.recent = newRecentEvents(h, slog.LevelWarn, 50)
	m.logger = slog.New(m.recent)

	if err := m.build(cfg); err != nil {
		return err
	}
	defer m.close()

	pub, err := listen(m.PublicListener, cfg.Listen)
	if err != nil {
		return fmt.Errorf("public listener: %w", err)
	}
	adm, err := listen(m.AdminListener, cfg.Admin.Listen)
	if err != nil {
		pub.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	m.PublicListener, m.AdminListener = pub, adm

	cw, err := m.watchConfig()
	if err != nil {
		pub.Close()
		adm.Close()
		return fmt.Errorf("config watcher: %w", err)
	}
	public := m.proxy.HTTPServer(limits(cfg))
	admin := m.adminServer()
	g, gctx := errgroup.WithContext(ctx)
	m.runCtx = gctx
	g.Go(func() error { return public.Serve(pub) })
	g.Go(func() error { return admin.Serve(adm) })
	g.Go(func() error { return m.store.Run(gctx) })
	g.Go(func() error { return m.budget.Run(gctx) })
	g.Go(func() error { return cw.run(gctx) })
	g.Go(func() error { return m.inval.run(gctx) })
	if m.cluster != nil {
		g.Go(func() error { return m.cluster.run(gctx) })
	}
	if m.s3 != nil {
		g.Go(func() error { return m.s3.Run(gctx) })
	}
	g.Go(func() error { return m.sweeper.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		m.logger.Info("shutting down: draining requests and generations")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
		defer cancel()
		err := public.ShutdownWithContext(sctx)
		m.proxy.Wait()
		return errors.Join(err, admin.ShutdownWithContext(sctx))
	})
	m.logger.Info("edge serving", "listen", pub.Addr().String(), "admin", adm.Addr().String(),
		"origin", cfg.Origin.URL, "root", cfg.Store.Root)
	if m.Ready != nil {
		close(m.Ready)
	}
	err = g.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	m.logger.Info("edge stopped")
	return err
}

func listen(ln net.Listener, addr string) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// build makes every part from the config.
func (m *Main) build(cfg Config) error {
	keys, err := cachekey.New(cachekey.Rules{
		Hosts: cfg.Hosts, QueryAllow: cfg.Cache.QueryAllow, QueryIgnore: nonNil(cfg.Cache.QueryIgnore),
		MaxURIBytes: cfg.Cache.MaxURIBytes,
	})
	if err != nil {
		return &ConfigError{File: m.configName(), Key: "hosts", Err: err}
	}
	// The memory tier and the store refer to each other through callbacks:
	// an outside change to a file drops the memory copy; a page leaving
	// memory no longer needs watching.
	var st *store.Store
	mem, err := memcache.New(memcache.Config{
		MaxBytes: int64(cfg.Memory.MaxBytes),
		OnEvict: func(key string) {
			if st != nil {
				st.Unwatch(key)
			}
		},
	})
	if err != nil {
		return err
	}
	st, err = store.Open(cfg.Store.Root, store.Options{
		NoSync: cfg.Store.NoSync, Logger: m.logger, OnChange: mem.Delete, Now: m.storeNow,
	})
	if err != nil {
		mem.Close()
		return err
	}
	// Pages are read and written through the S3 tier when there is one:
	// local disk first, then S3 (see internal/s3store).
	var pages interface {
		proxy.Store
		gen.Store
		Delete(key string) error
	} = st
	s3t, err := newS3Tier(cfg.S3, st, m.logger)
	if err != nil {
		st.Close()
		mem.Close()
		return &ConfigError{File: m.configName(), Key: "s3", Err: err}
	}
	if s3t != nil {
		pages = s3t
	}
	m.metrics = newMetrics()
	oc, err := origin.New(origin.Config{
		URL: cfg.Origin.URL, ConnectTimeout: cfg.Origin.ConnectTimeout,
		FirstByteTimeout: cfg.Origin.FirstByteTimeout, Timeout: cfg.Origin.Timeout,
		MaxConns: cfg.Origin.MaxConns, MaxResponseBytes: int(cfg.Origin.MaxResponseBytes),
		Budget:  origin.NewBudget(cfg.Origin.Concurrency, 0),
		Observe: m.metrics.observeOrigin,
	})
	if err != nil {
		st.Close()
		mem.Close()
		return &ConfigError{File: m.configName(), Key: "origin.url", Err: err}
	}
	g := &gen.Generator{
		Origin: oc, Store: pages, MaxObjectBytes: int(cfg.Store.MaxObjectBytes),
		GzipLevel: cfg.Store.GzipLevel, BrotliLevel: cfg.Store.BrotliLevel, Proto: cfg.Origin.ForwardedProto,
	}
	var source invalidate.Source // other edges' invalidations, in cluster mode
	if cfg.NATS.URL != "" {
		if m.cluster, err = newCluster(cfg, st, m.logger); err != nil {
			oc.Close()
			st.Close()
			mem.Close()
			return err
		}
		g.Store = taggingStore{pages, m.cluster.recorder}
		source = m.cluster.events
	}
	inv, err := newInvalidation(cfg.Regen, cfg.Queue, keys, st, mem, g, source, cfg.Store.Root, cfg.Origin.Timeout, m.logger)
	if err != nil {
		if m.cluster != nil {
			m.cluster.close()
		}
		oc.Close()
		st.Close()
		mem.Close()
		return err
	}
	inv.svc.Pages, inv.regen.Pages = pages, pages // deletions reach S3 too
	px := &proxy.Server{
		Keys: keys, Memory: mem, Store: pages, Generator: g, Origin: oc,
		FillTimeout: cfg.Origin.Timeout, Proto: cfg.Origin.ForwardedProto, Logger: m.logger,
		// About as many disk hits as the memory tier holds pages (~16 KiB).
		PromoteWindow: max(int(cfg.Memory.MaxBytes/(16<<10)), 1024),
		Known:         st,
		// Disk hits go out with sendfile from the local store (the S3
		// tier reads local disk first too; a page only in S3 falls back
		// to Store).
		Files: st,
	}
	px.SetPolicy(policy(cfg))
	px.OnStale = inv.svc.Ensure
	px.Recency = st
	m.budget = &store.Budget{
		Store: st, MaxBytes: int64(cfg.Store.MaxBytes), MinFreeBytes: int64(cfg.Store.MinFreeBytes),
		Interval: m.budgetInterval, Logger: m.logger,
		OnEvict: func(key string) {
			mem.Delete(key)
			if m.onEvict != nil {
				m.onEvict(key)
			}
		},
	}
	m.store, m.memory, m.origin, m.proxy, m.inval, m.s3 = st, mem, oc, px, inv, s3t
	if m.cluster != nil {
		m.cluster.svc = inv.svc
		m.cluster.dropMemory = mem.Delete
		if cfg.NATS.Work {
			r := &jobRunner{keys: keys, gen: g, pages: pages, drop: mem.Delete, timeout: cfg.Origin.Timeout,
				announce: announcer(cfg, m.cluster.client, m.cluster.node)}
			m.cluster.worker = &natsq.Worker{Client: m.cluster.client, Handle: r.handle,
				Concurrency: workConcurrency(cfg), Logger: m.logger}
		}
	}
	m.sweeper = newSweeper(cfg.Sweep, st, inv.regen.Wake, m.logger)
	m.gens = newGenService(m, g, keys) // after m.memory: it drops memory copies
	m.metrics.register(m)
	return nil
}

func (m *Main) close() {
	m.gens.close() // bulk runs end before the store closes
	if m.cluster != nil {
		m.cluster.close()
	}
	m.origin.Close()
	m.memory.Close() // before the store: evictions unwatch pages on it
	if err := m.store.Close(); err != nil {
		m.logger.Error("closing store", "err", err)
	}
}

func (m *Main) configName() string {
	if m.ConfigPath == "" {
		return "flags"
	}
	return m.ConfigPath
}

// nonNil keeps an explicitly empty list distinct from "use the default".
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func policy(cfg Config) proxy.Policy {
	admit, _ := proxy.ParseAdmission(cfg.Store.Admit) // validated by Config.Validate
	return proxy.Policy{
		BypassCookies: nonNil(cfg.Cache.BypassCookies), BypassPaths: cfg.Cache.BypassPaths,
		NegativeTTL: cfg.Cache.NegativeTTL, UncacheableTTL: cfg.Cache.UncacheableTTL,
		LockTimeout: cfg.Cache.LockTimeout, MaxWaiters: cfg.Cache.MaxWaiters,
		Admit: admit, AdmitWindow: cfg.Store.AdmitWindow,
		MissRate: cfg.Origin.MissRatePerClient, MissBurst: cfg.Origin.MissBurstPerClient,
	}
}

func limits(cfg Config) proxy.Limits {
	s := cfg.Server
	return proxy.Limits{
		ReadTimeout: s.ReadTimeout, WriteTimeout: s.WriteTimeout, IdleTimeout: s.IdleTimeout,
		MaxHeaderBytes: int(s.MaxHeaderBytes), MaxBodyBytes: int(s.MaxBodyBytes),
		MaxConns: s.MaxConns, MaxConnsPerIP: s.MaxConnsPerIP,
	}
}
