// Package loadgen sends GET requests to one HTTP server, either at a
// constant rate (an open model, like wrk2) or as fast as a fixed number of
// connections allow (a closed model, like wrk), and summarises what came
// back: latency percentiles, errors, statuses and X-Cache values.
//
// # Latency at a constant rate
//
// With Config.Rate set, request i is due at start + i/Rate, whatever
// happened to the requests before it. A connection takes the next due
// request, waits for its time if it is early, sends it and records the
// latency from the time it was due, not from the time it was sent. When the
// server stalls, the requests that pile up behind the stall are charged the
// time they waited for a connection. A closed-loop generator (wrk) would
// send fewer requests during the stall and record only the one that
// stalled, so its percentiles understate the tail ("coordinated omission").
//
// Every run is bounded: scheduling stops at Config.Duration (or after
// Config.Count requests), requests still due are sent for at most
// Config.Drain more, and each request times out after Config.Timeout.
package loadgen

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Config describes one run. Addr and Paths are required, and one of
// Duration or Count.
type Config struct {
	// Addr is the server's host:port; it is also sent as the Host header.
	Addr string
	// Paths appends the path of request i to dst and returns it; r is the
	// calling connection's own generator. See Fixed, Seq, Uniform, Zipf.
	Paths PathFunc
	// Rate is the constant rate in requests per second. Zero means a closed
	// loop: each connection sends its next request when the last returns.
	Rate float64
	// Duration stops scheduling new requests this long after the start.
	// Zero means no time limit (Count must be set).
	Duration time.Duration
	// Count stops after this many requests. Zero means no count limit
	// (Duration must be set).
	Count uint64
	// Conns is the number of connections, each with at most one request in
	// flight. Zero means 64.
	Conns int
	// Header holds extra request headers as name, value pairs.
	Header [][2]string
	// Timeout bounds each request. Zero means 10s.
	Timeout time.Duration
	// Drain bounds how long requests that were due before the end may still
	// be sent after it (a saturated server leaves a backlog); the rest are
	// counted as Unsent. Zero means Timeout.
	Drain time.Duration
	// Seed seeds each connection's generator (Seed + connection number).
	Seed uint64
	// Client, if set, sends the requests instead of a client made for this
	// run, and its connections stay open after it, so a run split into
	// several calls keeps the same connections. Its Addr must be Addr and
	// its MaxConns at least Conns; its own timeouts then bound each request.
	Client *fasthttp.HostClient
}

// PathFunc appends the path of request i to dst.
type PathFunc func(dst []byte, i uint64, r *rand.Rand) []byte

// Result summarises a run. Latencies are in milliseconds.
type Result struct {
	Sent     uint64            `json:"sent"`     // requests written (distinct slots)
	Requests uint64            `json:"requests"` // responses received, any status
	Errors   uint64            `json:"errors"`   // connect, read, write errors and timeouts
	Non2xx   uint64            `json:"non2xx"`   // responses whose status is not 2xx or 3xx
	Unsent   uint64            `json:"unsent"`   // due before the end, never sent (backlog past Drain)
	Late     uint64            `json:"late"`     // sent more than 1ms after they were due
	Bytes    uint64            `json:"bytes"`    // response body bytes
	Seconds  float64           `json:"duration_s"`
	RPS      float64           `json:"rps"` // responses per second
	Rate     float64           `json:"rate,omitempty"`
	Conns    int               `json:"conns"`
	P50      float64           `json:"p50_ms"`
	P90      float64           `json:"p90_ms"`
	P99      float64           `json:"p99_ms"`
	P999     float64           `json:"p999_ms"`
	Max      float64           `json:"max_ms"`
	XCache   map[string]uint64 `json:"x_cache,omitempty"` // responses by X-Cache header value
	Statuses map[int]uint64    `json:"statuses,omitempty"`
}

// lateAfter is how far behind schedule a request may be sent before it
// counts as Late.
const lateAfter = time.Millisecond

// Run performs one run against cfg.Addr. It returns early, with what it
// has, when ctx is done.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Addr == "" || cfg.Paths == nil {
		return Result{}, errors.New("loadgen: Addr and Paths are required")
	}
	if cfg.Duration <= 0 && cfg.Count == 0 {
		return Result{}, errors.New("loadgen: one of Duration or Count is required")
	}
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
		return Result{}, errors.New("loadgen: Rate must be a finite number ≥ 0")
	}
	if cfg.Rate > 0 && cfg.Duration <= 0 {
		return Result{}, errors.New("loadgen: a constant Rate needs a Duration")
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = cfg.Timeout
	}
	hc := cfg.Client
	if hc == nil {
		hc = NewClient(cfg.Addr, cfg.Conns, cfg.Timeout)
		defer hc.CloseIdleConnections()
	}

	start := time.Now()
	var end, stopSending time.Time
	if cfg.Duration > 0 {
		end = start.Add(cfg.Duration)
		stopSending = end.Add(cfg.Drain)
	}
	var next atomic.Uint64
	workers := make([]*worker, cfg.Conns)
	var wg sync.WaitGroup
	for n := range workers {
		w := &worker{
			cfg: &cfg, hc: hc, next: &next, start: start, end: end, stopSending: stopSending,
			rng:    rand.New(rand.NewPCG(cfg.Seed+uint64(n), 0x9e3779b97f4a7c15)),
			xcache: map[string]uint64{}, statuses: map[int]uint64{},
		}
		workers[n] = w
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := Result{Rate: cfg.Rate, Conns: cfg.Conns, XCache: map[string]uint64{}, Statuses: map[int]uint64{}}
	var lat []time.Duration
	for _, w := range workers {
		res.Sent += w.sent
		res.Requests += w.requests
		res.Errors += w.errors
		res.Non2xx += w.non2xx
		res.Late += w.late
		res.Bytes += w.bytes
		lat = append(lat, w.lat...)
		for k, v := range w.xcache {
			res.XCache[k] += v
		}
		for k, v := range w.statuses {
			res.Statuses[k] += v
		}
	}
	if cfg.Rate > 0 {
		due := uint64(math.Ceil(cfg.Duration.Seconds() * cfg.Rate))
		if cfg.Count > 0 {
			due = min(due, cfg.Count)
		}
		if due > res.Sent {
			res.Unsent = due - res.Sent
		}
	}
	res.Seconds = elapsed.Seconds()
	if res.Seconds > 0 {
		res.RPS = float64(res.Requests) / res.Seconds
	}
	slices.Sort(lat)
	res.P50, res.P90, res.P99, res.P999 = ms(Percentile(lat, 50)), ms(Percentile(lat, 90)),
		ms(Percentile(lat, 99)), ms(Percentile(lat, 99.9))
	if len(lat) > 0 {
		res.Max = ms(lat[len(lat)-1])
	}
	return res, ctx.Err()
}

// NewClient returns the client Run uses: at most conns connections to
// addr, each read and write bounded by timeout, no retries.
func NewClient(addr string, conns int, timeout time.Duration) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                      addr,
		MaxConns:                  conns,
		ReadTimeout:               timeout,
		WriteTimeout:              timeout,
		MaxIdleConnDuration:       time.Minute,
		NoDefaultUserAgentHeader:  true,
		MaxIdemponentCallAttempts: 1, // a failed request is an error, not a retry
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of the
// sorted latencies, or 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9)) // 1e-9: 99.9% of 1000 is 999, not 1000
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// worker is one connection's loop and its own tallies (merged after the
// run, so nothing is shared while it runs but next).
type worker struct {
	cfg                     *Config
	hc                      *fasthttp.HostClient
	next                    *atomic.Uint64
	start, end, stopSending time.Time
	rng                     *rand.Rand

	sent, requests, errors, non2xx, late, bytes uint64
	lat                                         []time.Duration
	xcache                                      map[string]uint64
	statuses                                    map[int]uint64
}

func (w *worker) run(ctx context.Context) {
	cfg := w.cfg
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	uri := make([]byte, 0, 128)
	prefix := "http://" + cfg.Addr
	var interval float64
	if cfg.Rate > 0 {
		interval = float64(time.Second) / cfg.Rate
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for ctx.Err() == nil {
		i := w.next.Add(1) - 1
		if cfg.Count > 0 && i >= cfg.Count {
			return
		}
		var due time.Time
		now := time.Now()
		if cfg.Rate > 0 {
			due = w.start.Add(time.Duration(float64(i) * interval))
			if !due.Before(w.end) || now.After(w.stopSending) {
				return
			}
			if d := due.Sub(now); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					timer.Stop()
					return
				}
			} else if -d > lateAfter {
				w.late++
			}
		} else {
			if !w.end.IsZero() && !now.Before(w.end) {
				return
			}
			due = now
		}

		uri = cfg.Paths(append(uri[:0], prefix...), i, w.rng)
		req.Reset()
		req.SetRequestURIBytes(uri)
		for _, h := range cfg.Header {
			req.Header.Set(h[0], h[1])
		}
		w.sent++
		err := w.hc.Do(req, resp)
		if err != nil {
			w.errors++
			continue
		}
		w.lat = append(w.lat, time.Since(due))
		w.requests++
		w.bytes += uint64(len(resp.Body()))
		code := resp.StatusCode()
		w.statuses[code]++
		if code < 200 || code >= 400 {
			w.non2xx++
		}
		if xc := resp.Header.Peek("X-Cache"); len(xc) > 0 {
			w.xcache[string(xc)]++
		}
	}
}
