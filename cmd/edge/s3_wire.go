package main

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/s3store"
	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/invalidate"
	"github.com/pregen/edge/proxy"
	"github.com/prometheus/client_golang/prometheus"
)

// Interface guards for the S3 tier: it stands in for the disk tier.
var (
	_ proxy.Store      = (*s3store.Tiered)(nil)
	_ gen.Store        = (*s3store.Tiered)(nil)
	_ invalidate.Pages = (*s3store.Tiered)(nil)
	_ s3store.Remote   = (*s3store.Bucket)(nil)
)

// S3Config is the "s3" section: the S3 tier of cluster mode, one bucket
// shared by every edge and worker. An empty Bucket (the default) turns it
// off; a single node needs none of it.
type S3Config struct {
	// Bucket is the bucket pages are stored in. Default "" (no S3 tier).
	Bucket string `yaml:"bucket"`
	// Prefix is prepended to every object key. Default "" (bucket root).
	Prefix string `yaml:"prefix"`
	// Region of the bucket. Default: the standard AWS configuration
	// (AWS_REGION, ~/.aws/config), or us-east-1 with explicit keys.
	Region string `yaml:"region"`
	// Endpoint is the URL of an S3-compatible store, e.g.
	// "http://127.0.0.1:7070". Default: AWS.
	Endpoint string `yaml:"endpoint"`
	// PathStyle addresses the bucket in the path (endpoint/bucket/key), as
	// most S3-compatible stores need. Default false.
	PathStyle bool `yaml:"path_style"`
	// AccessKeyID and SecretAccessKey are static credentials. Default: the
	// standard AWS chain (environment, shared config and credentials
	// files, IAM role); prefer it on AWS.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	// Timeout bounds each S3 operation on a page. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// RetryBackoff is how long S3 is left alone after a failure (misses
	// go to the origin, writes are queued on local disk); it doubles with
	// each further failure up to RetryBackoffMax. Defaults 1s and 5m.
	RetryBackoff    time.Duration `yaml:"retry_backoff"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
}

// DefaultS3Config returns the defaults of the s3 section (no bucket: off).
func DefaultS3Config() S3Config {
	return S3Config{Timeout: 5 * time.Second, RetryBackoff: time.Second, RetryBackoffMax: 5 * time.Minute}
}

func (c S3Config) validate(bad func(key, format string, args ...any) error) error {
	if c.Bucket == "" {
		return nil
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("s3.endpoint", "%q is not an http(s) URL", c.Endpoint)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return bad("s3.access_key_id", "set both access_key_id and secret_access_key, or neither (standard AWS configuration)")
	}
	switch {
	case c.Timeout <= 0:
		return bad("s3.timeout", "must be a positive duration such as 5s")
	case c.RetryBackoff <= 0:
		return bad("s3.retry_backoff", "must be a positive duration such as 1s")
	case c.RetryBackoffMax < c.RetryBackoff:
		return bad("s3.retry_backoff_max", "must be at least s3.retry_backoff")
	}
	return nil
}

// newS3Tier puts local disk in front of the configured bucket, or returns
// nil when the s3 section names no bucket.
func newS3Tier(c S3Config, st *store.Store, log *slog.Logger) (*s3store.Tiered, error) {
	if c.Bucket == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := s3store.NewBucket(ctx, s3store.Config{
		Bucket: c.Bucket, Prefix: c.Prefix, Region: c.Region, Endpoint: c.Endpoint, PathStyle: c.PathStyle,
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Timeout: c.Timeout,
	})
	if err != nil {
		return nil, err
	}
	return s3store.New(st, b, s3store.Options{Logger: log, BackoffMin: c.RetryBackoff, BackoffMax: c.RetryBackoffMax})
}

// runS3Tier delivers t's queued writes in the background for a command
// that is not edge serve (edge gen, edge worker); stop ends that, makes a
// last attempt, and logs what stays queued for the next process on this
// store. t may be nil (no S3 tier): stop then does nothing.
func runS3Tier(t *s3store.Tiered, log *slog.Logger, who string) (stop func()) {
	if t == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- t.Run(ctx) }()
	return func() {
		cancel()
		<-done
		fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer fcancel()
		if n := t.Flush(fctx); n > 0 {
			log.Warn(who+": some pages are not in S3 yet; they stay queued on local disk for the next edge serve, worker or gen on this store",
				"pending", n)
		}
	}
}

// S3Status is the s3 part of the /status document (absent without a bucket).
type S3Status struct {
	Bucket        string    `json:"bucket"`
	Prefix        string    `json:"prefix,omitempty"`
	Up            bool      `json:"up"`
	DownSince     time.Time `json:"down_since,omitzero"`
	PendingWrites int64     `json:"pending_writes"` // queued on local disk, not yet in S3
	ReadThrough   int64     `json:"read_through"`   // local misses answered by S3
	ReadMisses    int64     `json:"read_misses"`
	ReadErrors    int64     `json:"read_errors"`
	ReadsSkipped  int64     `json:"reads_skipped"` // while backing off
	CopyErrors    int64     `json:"copy_errors"`
	Writes        int64     `json:"writes"`
	WriteErrors   int64     `json:"write_errors"`
	WritesQueued  int64     `json:"writes_queued"` // while backing off
	Retried       int64     `json:"retried"`
	Superseded    int64     `json:"superseded"`
	RetryErrors   int64     `json:"retry_errors"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

func s3Status(c S3Config, t *s3store.Tiered) *S3Status {
	if t == nil {
		return nil
	}
	s := t.Stats()
	return &S3Status{
		Bucket: c.Bucket, Prefix: c.Prefix, Up: !s.Down, DownSince: s.DownSince, PendingWrites: s.Pending,
		ReadThrough: s.ReadThrough, ReadMisses: s.ReadMisses, ReadErrors: s.ReadErrors, ReadsSkipped: s.ReadsSkipped,
		CopyErrors: s.CopyErrors, Writes: s.Writes, WriteErrors: s.WriteErrors, WritesQueued: s.WritesQueued,
		Retried: s.Retried, Superseded: s.Superseded, RetryErrors: s.RetryErrors,
		LastError: s.LastError, LastErrorTime: s.LastErrorTime,
	}
}

// s3Collector exports the S3 tier's counters at scrape time.
type s3Collector struct {
	t                              *s3store.Tiered
	reads, writes, retries, copies *prometheus.Desc
	pending, up                    *prometheus.Desc
}

func newS3Collector(t *s3store.Tiered) *s3Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &s3Collector{
		t: t,
		reads: d("edge_s3_reads_total", "Local-disk misses looked up in S3, by result: hit (copied to disk), miss, error, "+
			"skipped (S3 backing off; the origin answered).", "result"),
		writes: d("edge_s3_writes_total", "Page writes and deletions sent to S3 when made, by result: ok, error (queued), "+
			"queued (S3 backing off, not tried).", "result"),
		retries: d("edge_s3_retries_total", "Deliveries of queued writes, by result: delivered, superseded (S3 had a newer page, "+
			"or the page is gone), error.", "result"),
		copies:  d("edge_s3_copy_errors_total", "Pages read from S3 that could not be copied to local disk (still served)."),
		pending: d("edge_s3_pending_writes", "Writes queued on local disk for S3, not yet delivered (survive restarts)."),
		up:      d("edge_s3_up", "1 when S3 answers, 0 while edge backs off after a failure."),
	}
}

func (c *s3Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reads, c.writes, c.retries, c.copies, c.pending, c.up} {
		ch <- d
	}
}

func (c *s3Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.t.Stats()
	counter := func(d *prometheus.Desc, v int64, label ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label...)
	}
	counter(c.reads, s.ReadThrough, "hit")
	counter(c.reads, s.ReadMisses, "miss")
	counter(c.reads, s.ReadErrors, "error")
	counter(c.reads, s.ReadsSkipped, "skipped")
	counter(c.writes, s.Writes, "ok")
	counter(c.writes, s.WriteErrors, "error")
	counter(c.writes, s.WritesQueued, "queued")
	counter(c.retries, s.Retried, "delivered")
	counter(c.retries, s.Superseded, "superseded")
	counter(c.retries, s.RetryErrors, "error")
	counter(c.copies, s.CopyErrors)
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending))
	up := 1.0
	if s.Down {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}
