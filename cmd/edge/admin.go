package main

import (
	"crypto/subtle"
	"encoding/json"
	"strings"
	"time"

	"github.com/pregen/edge"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fasthttp/pprofhandler"
)

// adminServer builds the admin listener's server: /healthz, /metrics and
// /status for anyone who can reach it (keep it on loopback), and mutating
// endpoints behind the bearer token.
func (m *Main) adminServer() *fasthttp.Server {
	prom := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.metrics.reg, promhttp.HandlerOpts{}))
	return &fasthttp.Server{
		Name:                  "edge-admin",
		NoDefaultServerHeader: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           60 * time.Second,
		MaxRequestBodySize:    1 << 20,
		Concurrency:           256,
		CloseOnShutdown:       true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
			switch path := string(ctx.Path()); {
			case (path == "/" || path == "/ui") && ctx.IsGet():
				serveStatusPage(ctx)
			case path == "/healthz" && ctx.IsGet():
				ctx.SetContentType("text/plain; charset=utf-8")
				ctx.SetBodyString("ok\n")
			case path == "/metrics" && ctx.IsGet():
				prom(ctx)
			case path == "/status" && ctx.IsGet():
				m.writeJSON(ctx, fasthttp.StatusOK, m.status())
			case path == "/reload" && ctx.IsPost():
				if m.authorized(ctx) {
					m.reload("admin API")
					m.writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "reloaded"})
				}
			case path == "/gen" || strings.HasPrefix(path, "/gen/"):
				m.gens.serve(ctx, path)
			case strings.HasPrefix(path, "/debug/pprof/") && ctx.IsGet():
				// Go's profiler, for measuring edge under load (bench/):
				// behind the token, since a profile reveals internals.
				if m.authorized(ctx) {
					pprofhandler.PprofHandler(ctx)
				}
			case path == "/invalidate" && ctx.IsPost():
				m.serveInvalidate(ctx, m.inval.svc)
			case path == "/impact" && ctx.IsGet():
				m.serveImpact(ctx, m.inval.svc)
			case path == "/fsck" && ctx.IsPost():
				m.serveFsck(ctx)
			case path == "/healthz" || path == "/metrics" || path == "/status" || path == "/reload" ||
				path == "/invalidate" || path == "/impact" || path == "/fsck":
				ctx.Error("method not allowed\n", fasthttp.StatusMethodNotAllowed)
			default:
				ctx.Error("not found\n", fasthttp.StatusNotFound)
			}
		},
	}
}

// authorized checks the bearer token in constant time; it answers 401
// itself when the token is missing or wrong, and 403 when none is
// configured (mutations are then disabled).
func (m *Main) authorized(ctx *fasthttp.RequestCtx) bool {
	token := m.cfg.Load().Admin.Token
	if token == "" {
		ctx.Error("admin.token (or EDGE_ADMIN_TOKEN) is not set: mutating endpoints are disabled\n", fasthttp.StatusForbidden)
		return false
	}
	got := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	want := "Bearer " + token
	if subtle.ConstantTimeCompare(got, []byte(want)) != 1 {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="edge-admin"`)
		ctx.Error("unauthorized\n", fasthttp.StatusUnauthorized)
		return false
	}
	return true
}

func (m *Main) writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// Status is the /status document.
type Status struct {
	Version       string             `json:"version"`
	UptimeSeconds int64              `json:"uptime_seconds"`
	Origin        string             `json:"origin"`
	Requests      map[string]int     `json:"requests"`
	Coalesced     int64              `json:"coalesced_waiters"`
	LockTimeouts  int64              `json:"lock_timeouts"`
	Errors4xx     int64              `json:"errors_4xx"`
	Errors5xx     int64              `json:"errors_5xx"`
	NotStored     int64              `json:"not_stored"`
	InFlight      int                `json:"generations_in_flight"`
	Memory        TierStatus         `json:"memory"`
	Disk          DiskStatus         `json:"disk"`
	Budget        BudgetStatus       `json:"origin_budget"`
	RecentEvents  []Event            `json:"recent_events"`
	Invalidation  InvalidationStatus `json:"invalidation"`
	Admission     AdmissionStatus    `json:"admission"`
	Cluster       *ClusterStatus     `json:"cluster,omitempty"` // cluster mode only
	S3            *S3Status          `json:"s3,omitempty"`
	Ages          AgesStatus         `json:"ages"`
	Sweep         SweepStatus        `json:"sweep"`
}

// AdmissionStatus describes the miss firewall: the admission policy
// (store.admit) with its decisions, and the misses refused by the
// per-client rate (origin.miss_rate_per_client).
type AdmissionStatus struct {
	Policy      string `json:"policy"`
	Admitted    int64  `json:"admitted"`
	NotAdmitted int64  `json:"not_admitted"`
	RateLimited int64  `json:"rate_limited"`
}

// TierStatus describes one tier.
type TierStatus struct {
	Pages int64 `json:"pages"`
	Bytes int64 `json:"bytes"`
}

// DiskStatus describes the disk tier.
type DiskStatus struct {
	TierStatus
	WriteErrors int64 `json:"write_errors"`
	Watches     int64 `json:"watches"`
	// The budget: limits (0: none), free space at the last check (-1:
	// not watched) and evictions since start.
	MaxBytes     int64 `json:"max_bytes"`
	MinFreeBytes int64 `json:"min_free_bytes"`
	FreeBytes    int64 `json:"free_bytes"`
	Evictions    int64 `json:"evictions"`
	EvictedBytes int64 `json:"evicted_bytes"`
}

// BudgetStatus describes the origin budget.
type BudgetStatus struct {
	Slots  int            `json:"slots"`
	InUse  int            `json:"in_use"`
	Queued map[string]int `json:"queued"`
}

func (m *Main) status() Status {
	ps := m.proxy.Stats()
	ds := m.store.Stats()
	bs := m.budget.Stats()
	cfg := m.cfg.Load()
	b := m.origin.Budget()
	now := time.Now()
	queued := map[string]int{}
	for p := edge.Priority(0); p < edge.NumPriorities; p++ {
		queued[p.String()] = b.Queued(p)
	}
	return Status{
		Version:       version,
		UptimeSeconds: int64(time.Since(m.started).Seconds()),
		Origin:        cfg.Origin.URL,
		Requests:      map[string]int{"HIT": int(ps.Hit), "MISS": int(ps.Miss), "STALE": int(ps.Stale), "BYPASS": int(ps.Bypass)},
		Coalesced:     ps.Coalesced, LockTimeouts: ps.LockTimeouts,
		Errors4xx: ps.Errors4xx, Errors5xx: ps.Errors5xx, NotStored: ps.NotStored,
		InFlight: m.proxy.InFlight(),
		Memory:   TierStatus{Pages: m.memory.Pages(), Bytes: m.memory.Bytes()},
		Disk: DiskStatus{
			TierStatus: TierStatus{Pages: ds.Pages, Bytes: ds.Bytes}, WriteErrors: ds.WriteErrors, Watches: ds.Watches,
			MaxBytes: m.budget.MaxBytes, MinFreeBytes: m.budget.MinFreeBytes, FreeBytes: bs.FreeBytes,
			Evictions: bs.Evictions, EvictedBytes: bs.EvictedBytes,
		},
		Budget:       BudgetStatus{Slots: cfg.Origin.Concurrency, InUse: b.InUse(), Queued: queued},
		RecentEvents: m.recent.events(),
		Invalidation: m.inval.status(),
		Admission: AdmissionStatus{
			Policy: cfg.Store.Admit, Admitted: ps.Admitted, NotAdmitted: ps.NotAdmitted, RateLimited: ps.RateLimited,
		},
		Cluster: m.cluster.status(),
		S3:      s3Status(cfg.S3, m.s3),
		Ages:    m.agesStatus(now),
		Sweep:   m.sweepStatus(now),
	}
}
