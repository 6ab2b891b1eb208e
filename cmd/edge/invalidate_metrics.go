package main

import (
	"github.com/pregen/edge"
	"github.com/pregen/edge/invalidate"
	"github.com/prometheus/client_golang/prometheus"
)

// invalidationCollector exports the invalidation counters at scrape time
// (like the request path's, they are kept by their owners and read here).
type invalidationCollector struct {
	inv *invalidation

	marks, depth, dropped, claimed, dedup *prometheus.Desc
	regens, latency                       *prometheus.Desc
	deadLetters, outages, outageRemarked  *prometheus.Desc
	latencyBounds                         []float64
}

func newInvalidationCollector(inv *invalidation) *invalidationCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &invalidationCollector{
		inv:     inv,
		marks:   d("edge_invalidation_marks_total", "Pages marked stale (or, for hard invalidations, deleted), by way in: api, queue, outage, set-stale.", "source"),
		depth:   d("edge_invalidation_queue_depth", "Stale marks waiting or being regenerated, by priority.", "priority"),
		dropped: d("edge_invalidation_dropped_marks", "Stale marks given up on after regen.max_attempts failures, left for the sweep (the pages stay stale)."),
		claimed: d("edge_invalidation_regenerating", "Pages being regenerated now."),
		dedup:   d("edge_invalidation_deduplicated_total", "Marks of pages already marked and waiting: collapsed into one regeneration."),
		regens: d("edge_regenerations_total", "Regenerations of marked pages by outcome: changed, unchanged, removed (404/410), "+
			"origin_error, origin_5xx, uncacheable, store_error; dropped counts marks given up on.", "outcome"),
		latency:        d("edge_regeneration_mark_to_fresh_seconds", "Time from a page's latest stale mark to its fresh copy being in place."),
		deadLetters:    d("edge_invalidation_dead_letters_total", "Malformed queued messages set aside in @edge/deadletter.log."),
		outages:        d("edge_invalidation_outages_total", "Outage windows of the message source recorded."),
		outageRemarked: d("edge_invalidation_outage_marks_total", "Pages marked at sweep priority after message-source outages."),
		latencyBounds:  invalidate.LatencyBuckets[:],
	}
}

// Describe implements prometheus.Collector.
func (c *invalidationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.marks, c.depth, c.dropped, c.claimed, c.dedup, c.regens, c.latency,
		c.deadLetters, c.outages, c.outageRemarked} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *invalidationCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for src, n := range c.inv.svc.MarksBySource() {
		counter(c.marks, float64(n), src)
	}
	ms := c.inv.store.MarkStats()
	for p := edge.Priority(0); p < edge.NumPriorities; p++ {
		gauge(c.depth, float64(ms.Pending[p]), p.String())
	}
	gauge(c.dropped, float64(ms.Dropped))
	gauge(c.claimed, float64(ms.Claimed))
	counter(c.dedup, float64(ms.Collapsed))
	rs := c.inv.regen.Stats()
	for o, n := range rs.Outcomes {
		counter(c.regens, float64(n), o)
	}
	buckets := make(map[float64]uint64, len(c.latencyBounds))
	for i, ub := range c.latencyBounds {
		buckets[ub] = rs.MarkToFresh.Cumulative[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.latency, rs.MarkToFresh.Count, rs.MarkToFresh.Sum, buckets)
	var cs invalidate.ConsumerStats
	if c.inv.consumer != nil {
		cs = c.inv.consumer.Stats()
	}
	counter(c.deadLetters, float64(cs.DeadLetters))
	counter(c.outages, float64(cs.Outages))
	counter(c.outageRemarked, float64(cs.Repaired))
}
