package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// freshnessCollector exports the age of stored and served pages and the
// sweep's progress at scrape time (kept by the store, the proxy and the
// sweeper; read here).
type freshnessCollector struct {
	m *Main

	stored, oldest, served                 *prometheus.Desc
	cycle, start, done, total, behind, eta *prometheus.Desc
	marked, enabled, period                *prometheus.Desc
}

func newFreshnessCollector(m *Main) *freshnessCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &freshnessCollector{
		m:       m,
		stored:  d("edge_page_age_seconds", "Age (now - generated_at) of the stored pages, counted per hour of generation."),
		oldest:  d("edge_page_oldest_age_seconds", "Age of the oldest stored page (0 when the store is empty)."),
		served:  d("edge_served_page_age_seconds", "Age of the pages served from a tier (X-Cache HIT and STALE) when they were served."),
		enabled: d("edge_sweep_enabled", "1 when the rolling sweep runs (sweep.period > 0)."),
		period:  d("edge_sweep_period_seconds", "sweep.period: every stored page is regenerated at least once per period."),
		cycle:   d("edge_sweep_cycle", "Number of the sweep's current cycle."),
		start:   d("edge_sweep_cycle_start_timestamp_seconds", "When the sweep's current cycle started (Unix time)."),
		done:    d("edge_sweep_cycle_done_pages", "Pages of the current cycle marked for regeneration so far."),
		total:   d("edge_sweep_cycle_pages", "Pages in the current cycle (stored pages when it started)."),
		behind:  d("edge_sweep_behind_pages", "Pages the sweep's even pace should have marked by now and has not."),
		eta:     d("edge_sweep_cycle_eta_timestamp_seconds", "When the current cycle will have marked all its pages (Unix time)."),
		marked:  d("edge_sweep_marked_total", "Pages the sweep marked for regeneration since start."),
	}
}

// Describe implements prometheus.Collector.
func (c *freshnessCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.stored, c.oldest, c.served, c.enabled, c.period, c.cycle, c.start,
		c.done, c.total, c.behind, c.eta, c.marked} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *freshnessCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	st := c.m.store
	as := st.Ages(now, ageBounds)
	buckets := make(map[float64]uint64, len(ageBounds))
	for i, b := range ageBounds {
		buckets[b.Seconds()] = uint64(as.Cumulative[i])
	}
	ch <- prometheus.MustNewConstHistogram(c.stored, uint64(as.Count), as.Sum, buckets)
	oldest := 0.0
	if t, err := st.Oldest(); err == nil && !t.IsZero() {
		oldest = max(now.Sub(t), 0).Seconds()
	}
	gauge(c.oldest, oldest)

	sa := c.m.proxy.Stats().ServedAge
	served := make(map[float64]uint64, len(ageBounds))
	for i, b := range ageBounds {
		served[b.Seconds()] = sa.Cumulative[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.served, sa.Count, sa.Sum.Seconds(), served)

	s := c.m.sweeper.Status(now)
	enabled := 0.0
	if s.Enabled {
		enabled = 1
	}
	gauge(c.enabled, enabled)
	gauge(c.period, s.Period.Seconds())
	gauge(c.cycle, float64(s.Cycle))
	gauge(c.start, unixSeconds(s.Start))
	gauge(c.done, float64(s.Done))
	gauge(c.total, float64(s.Total))
	gauge(c.behind, float64(s.Behind))
	gauge(c.eta, unixSeconds(s.ETA))
	ch <- prometheus.MustNewConstMetric(c.marked, prometheus.CounterValue, float64(s.Marked))
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
