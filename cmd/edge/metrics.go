package main

import (
	"strconv"
	"time"

	"github.com/pregen/edge"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is edge's Prometheus registry. The request path keeps its own
// atomic counters (proxy.Stats); they are read at scrape time, so serving a
// hit touches no Prometheus state.
type metrics struct {
	reg            *prometheus.Registry
	originRequests *prometheus.CounterVec
	originLatency  *prometheus.HistogramVec
	reloads        prometheus.Counter
	reloadErrors   prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		originRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_origin_requests_total",
			Help: "Requests sent to the origin, by priority and outcome (HTTP status class or error).",
		}, []string{"priority", "result"}),
		originLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edge_origin_request_duration_seconds",
			Help:    "Time from asking the origin budget to the end of the origin response, by priority.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"priority"}),
		reloads:      prometheus.NewCounter(prometheus.CounterOpts{Name: "edge_config_reloads_total", Help: "Config reloads applied."}),
		reloadErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "edge_config_reload_errors_total", Help: "Config reloads rejected."}),
	}
	m.reg.MustRegister(m.originRequests, m.originLatency, m.reloads, m.reloadErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeOrigin is the origin client's per-exchange hook.
func (m *metrics) observeOrigin(p edge.Priority, status int, err error, elapsed time.Duration) {
	result := "error"
	if err == nil {
		result = strconv.Itoa(status/100) + "xx"
	}
	m.originRequests.WithLabelValues(p.String(), result).Inc()
	m.originLatency.WithLabelValues(p.String()).Observe(elapsed.Seconds())
}

// register adds the gauges and counters read from the running parts.
func (m *metrics) register(main *Main) {
	px, st, mem, oc := main.proxy, main.store, main.memory, main.origin
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	gauge := func(name, help string, labels prometheus.Labels, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	byCache := func(label string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edge_requests_total", Help: "Requests answered, by X-Cache outcome.",
			ConstLabels: prometheus.Labels{"cache": label},
		}, func() float64 { return float64(f()) })
	}
	admission := func(label string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edge_admission_total", Help: "Admission decisions (store.admit) of generations led by a miss: admitted (may be stored) or not_admitted (served, not stored).",
			ConstLabels: prometheus.Labels{"result": label},
		}, func() float64 { return float64(f()) })
	}
	m.reg.MustRegister(
		byCache("HIT", func() int64 { return px.Stats().Hit }),
		byCache("MISS", func() int64 { return px.Stats().Miss }),
		byCache("STALE", func() int64 { return px.Stats().Stale }),
		byCache("BYPASS", func() int64 { return px.Stats().Bypass }),
		counter("edge_coalesced_waiters_total", "Requests that waited for another request's generation instead of asking the origin.",
			func() float64 { return float64(px.Stats().Coalesced) }),
		counter("edge_lock_timeouts_total", "Waiters that gave up on a slow generation and fetched for themselves.",
			func() float64 { return float64(px.Stats().LockTimeouts) }),
		counter("edge_client_errors_total", "4xx responses edge produced itself (malformed or refused requests).",
			func() float64 { return float64(px.Stats().Errors4xx) }),
		counter("edge_server_errors_total", "5xx responses edge produced itself (origin down with no stored copy, overload).",
			func() float64 { return float64(px.Stats().Errors5xx) }),
		counter("edge_not_stored_total", "Origin responses that were not cacheable.",
			func() float64 { return float64(px.Stats().NotStored) }),
		admission("admitted", func() int64 { return px.Stats().Admitted }),
		admission("not_admitted", func() int64 { return px.Stats().NotAdmitted }),
		counter("edge_miss_rate_limited_total", "Misses refused with a 429 because their client was over origin.miss_rate_per_client.",
			func() float64 { return float64(px.Stats().RateLimited) }),
		counter("edge_store_write_errors_total", "Page writes that failed (disk full, I/O errors); the pages were still served.",
			func() float64 { return float64(st.Stats().WriteErrors) }),
		counter("edge_store_evictions_total", "Pages evicted from the disk tier (least recently served first) to keep store.max_bytes or store.min_free_bytes.",
			func() float64 { return float64(main.budget.Stats().Evictions) }),
		counter("edge_store_evicted_bytes_total", "Bytes of the pages evicted from the disk tier.",
			func() float64 { return float64(main.budget.Stats().EvictedBytes) }),
		gauge("edge_store_free_bytes", "Free bytes on the store's file system at the last check (-1: not watched; set store.min_free_bytes).", nil,
			func() float64 { return float64(main.budget.Stats().FreeBytes) }),
		counter("edge_store_served_writes_total", "Index transactions that recorded last-served times (batched, not one per hit).",
			func() float64 { return float64(st.Stats().ServedWrites) }),
		counter("edge_store_served_dropped_total", "Last-served reports dropped because their buffer was full (reported again later).",
			func() float64 { return float64(st.Stats().ServedDropped) }),
		gauge("edge_tier_bytes", "Bytes held by a tier.", prometheus.Labels{"tier": "memory"},
			func() float64 { return float64(mem.Bytes()) }),
		gauge("edge_tier_bytes", "Bytes held by a tier.", prometheus.Labels{"tier": "disk"},
			func() float64 { return float64(st.Stats().Bytes) }),
		gauge("edge_tier_pages", "Pages held by a tier.", prometheus.Labels{"tier": "memory"},
			func() float64 { return float64(mem.Pages()) }),
		gauge("edge_tier_pages", "Pages held by a tier.", prometheus.Labels{"tier": "disk"},
			func() float64 { return float64(st.Stats().Pages) }),
		gauge("edge_generations_in_flight", "Page generations running now.", nil,
			func() float64 { return float64(px.InFlight()) }),
		gauge("edge_origin_budget_in_use", "Origin budget slots in use.", nil,
			func() float64 { return float64(oc.Budget().InUse()) }),
	)
	m.reg.MustRegister(newInvalidationCollector(main.inval))
	if main.s3 != nil {
		m.reg.MustRegister(newS3Collector(main.s3))
	}
	m.reg.MustRegister(newFreshnessCollector(main))
	for p := edge.Priority(0); p < edge.NumPriorities; p++ {
		m.reg.MustRegister(gauge("edge_origin_budget_queued", "Origin work waiting for a budget slot, by priority.",
			prometheus.Labels{"priority": p.String()}, func() float64 { return float64(oc.Budget().Queued(p)) }))
	}
}
