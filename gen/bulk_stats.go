package gen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Summary is what a bulk run did, as counts. It is a plain value; Bulk
// returns snapshots of it while it runs (Bulk.Progress) and at the end.
// Every entry read ends in exactly one of OK, Unchanged, Skipped,
// OtherShard, Failed, NotStorable or Refused.
type Summary struct {
	Read         int64 `json:"read"`          // entries read from the source
	OK           int64 `json:"ok"`            // pages generated and written (new or changed)
	Unchanged    int64 `json:"unchanged"`     // pages generated, identical to the stored copy: files not rewritten
	Skipped      int64 `json:"skipped"`       // generated after the cutoff (-since, or by an earlier attempt of this run)
	OtherShard   int64 `json:"other_shard"`   // left to another shard
	Failed       int64 `json:"failed"`        // origin error, 5xx/429, or the page could not be written
	NotStorable  int64 `json:"not_storable"`  // the origin's answer may not be stored (404, private, Set-Cookie, …)
	Refused      int64 `json:"refused"`       // bad line, host outside the configured hosts, bypassed path or query
	SourceErrors int64 `json:"source_errors"` // unreadable or malformed sitemaps and lists
	// Bytes is the identity bytes received from the origin; Stored the
	// bytes written (every variant) for OK pages.
	Bytes  int64 `json:"bytes"`
	Stored int64 `json:"stored_bytes"`
	// Elapsed is the wall time of the run so far.
	Elapsed time.Duration `json:"elapsed_ns"`
	// LatencyP50 and LatencyP99 are percentiles of the time one page took
	// to make (wait for an origin budget slot, request, compression,
	// write), within about 5%.
	LatencyP50 time.Duration `json:"latency_p50_ns"`
	LatencyP99 time.Duration `json:"latency_p99_ns"`
	// OriginP50 and OriginP99 are percentiles of the origin's answers alone
	// (request sent to response read), when the caller reports them
	// (Bulk.ObserveOrigin); zero otherwise.
	OriginP50 time.Duration `json:"origin_p50_ns,omitempty"`
	OriginP99 time.Duration `json:"origin_p99_ns,omitempty"`
	// Interrupted is set when the run stopped before its source ended.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Done is the number of entries with an outcome.
func (s Summary) Done() int64 {
	return s.OK + s.Unchanged + s.Skipped + s.OtherShard + s.Failed + s.NotStorable + s.Refused
}

// Fetched is the number of pages asked of the origin.
func (s Summary) Fetched() int64 { return s.OK + s.Unchanged + s.Failed + s.NotStorable }

// PagesPerSecond is Fetched per second of Elapsed.
func (s Summary) PagesPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Fetched()) / s.Elapsed.Seconds()
}

// counters are the live form of a Summary.
type counters struct {
	read, source  atomic.Int64
	outcomes      [numOutcomes]atomic.Int64
	bytes, stored atomic.Int64
	latency       histogram // Maker.Generate calls
	origin        histogram // origin requests, as reported to Bulk.ObserveOrigin
}

func (c *counters) summary(elapsed time.Duration) Summary {
	o := func(x Outcome) int64 { return c.outcomes[x].Load() }
	return Summary{
		Read: c.read.Load(), SourceErrors: c.source.Load(),
		OK: o(OK), Unchanged: o(Unchanged), Skipped: o(Skipped), OtherShard: o(OtherShard),
		Failed: o(Failed), NotStorable: o(NotStorable), Refused: o(Refused),
		Bytes: c.bytes.Load(), Stored: c.stored.Load(), Elapsed: elapsed,
		LatencyP50: c.latency.quantile(0.50), LatencyP99: c.latency.quantile(0.99),
		OriginP50: c.origin.quantile(0.50), OriginP99: c.origin.quantile(0.99),
	}
}

// histogram is a fixed-size log-linear histogram of durations in
// microseconds: 8 buckets per power of two (values below 8 µs exact), up to
// 2^40 µs (12 days). It is safe for concurrent use and never allocates, so
// memory stays flat however many pages a run makes.
type histogram struct {
	buckets [8 + 38*8]atomic.Int64
	n       atomic.Int64
}

func bucketOf(us uint64) int {
	if us < 8 {
		return int(us)
	}
	e := bits.Len64(us) - 1 // ≥ 3
	if e > 40 {
		return len(histogram{}.buckets) - 1
	}
	sub := int(us>>(e-3)) & 7
	return 8 + (e-3)*8 + sub
}

// bucketMid returns the middle of bucket i, in microseconds.
func bucketMid(i int) float64 {
	if i < 8 {
		return float64(i)
	}
	e := (i-8)/8 + 3
	sub := (i - 8) % 8
	lo := float64(uint64(8+sub) << (e - 3))
	return lo + float64(uint64(1)<<(e-3))/2
}

func (h *histogram) observe(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.buckets[bucketOf(uint64(us))].Add(1)
	h.n.Add(1)
}

// quantile returns the q-quantile (0 < q ≤ 1), or 0 with no observations.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.5)
	rank = max(rank, 1)
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return time.Duration(bucketMid(i) * float64(time.Microsecond))
		}
	}
	return time.Duration(bucketMid(len(h.buckets)-1) * float64(time.Microsecond))
}
