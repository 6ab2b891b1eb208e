package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/pregen/edge/bench/internal/loadgen"
)

// stream is one kind of request in the mix, sent at its own constant rate
// by bench/internal/loadgen in chunks, so every response is attributed to
// a few seconds of the run (inside the outage or not).
type stream struct {
	name   string
	rate   float64
	conns  int
	header [][2]string
	// paths returns the PathFunc of chunk k; sent is how many requests the
	// stream has sent before it (so new URLs stay new).
	paths func(k int, sent uint64) loadgen.PathFunc
}

// chunkResult is one chunk of one stream: its time span in seconds since
// the traffic started, and what came back.
type chunkResult struct {
	stream     string
	start, end float64
	res        loadgen.Result
}

func (c chunkResult) status5xx() uint64 {
	var n uint64
	for code, k := range c.res.Statuses {
		if code >= 500 && code <= 599 {
			n += k
		}
	}
	return n
}

// tally collects chunk results as they arrive; the sampler reads and
// resets the counts since the previous sample.
type tally struct {
	mu                   sync.Mutex
	chunks               []chunkResult
	requests, s5xx, errs uint64 // since the last take
}

func (t *tally) add(c chunkResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.chunks = append(t.chunks, c)
	t.requests += c.res.Requests
	t.s5xx += c.status5xx()
	t.errs += c.res.Errors
}

// take returns the counts since the previous take.
func (t *tally) take() (requests, s5xx, errs uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	requests, s5xx, errs = t.requests, t.s5xx, t.errs
	t.requests, t.s5xx, t.errs = 0, 0, 0
	return
}

func (t *tally) all() []chunkResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]chunkResult(nil), t.chunks...)
}

// runStream sends st's requests to addr from t0 for n chunks of length
// chunk, chunk k starting at t0 + k·chunk.
func runStream(ctx context.Context, addr string, t0 time.Time, chunk time.Duration, n int, st stream, out *tally) {
	var sent uint64
	hc := loadgen.NewClient(addr, st.conns, 5*time.Second) // the same connections in every chunk
	defer hc.CloseIdleConnections()
	for k := range n {
		due := t0.Add(time.Duration(k) * chunk)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(due)):
		}
		left := time.Until(t0.Add(time.Duration(k+1) * chunk))
		if left < chunk/2 { // a chunk overran (a backlog drained): skip ahead
			continue
		}
		begin := time.Since(t0).Seconds()
		res, err := loadgen.Run(ctx, loadgen.Config{
			Addr: addr, Paths: st.paths(k, sent), Rate: st.rate, Duration: left, Conns: st.conns,
			Header: st.header, Timeout: 5 * time.Second, Drain: time.Second, Seed: uint64(k) << 8, Client: hc,
		})
		if err != nil && ctx.Err() == nil {
			res.Errors++
		}
		sent += res.Sent
		out.add(chunkResult{stream: st.name, start: begin, end: time.Since(t0).Seconds(), res: res})
	}
}

// invalidator posts invalidations to edge's admin API: a few random pages
// of the hot set, or one of their tags, every period.
type invalidator struct {
	admin, token string
	pages        int
	mu           sync.Mutex
	posted       int
	failures     []string
}

func (iv *invalidator) run(ctx context.Context, period time.Duration) {
	r := rand.New(rand.NewPCG(7, 11))
	tick := time.NewTicker(period)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var msg map[string]any
		if i%3 == 2 {
			msg = map[string]any{"tags": []string{fmt.Sprintf("event-%d", 1+r.IntN(iv.pages))}}
		} else {
			urls := make([]string, 10)
			for j := range urls {
				urls[j] = fmt.Sprintf("/events/%d", 1+r.IntN(iv.pages))
			}
			msg = map[string]any{"urls": urls}
		}
		err := iv.post(ctx, msg)
		iv.mu.Lock()
		iv.posted++
		if err != nil && ctx.Err() == nil {
			iv.failures = append(iv.failures, err.Error())
		}
		iv.mu.Unlock()
	}
}

func (iv *invalidator) post(ctx context.Context, msg any) error {
	b, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+iv.admin+"/invalidate", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+iv.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := adminClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST /invalidate: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /invalidate %s: %d %s", b, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

func (iv *invalidator) result() (posted int, failures []string) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return iv.posted, append([]string(nil), iv.failures...)
}
