package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/pregen/edge/gen"
	"github.com/pregen/edge/internal/cachekey"
)

// Client side of the bulk-run admin API.
const (
	genChunkURLs    = 500             // URLs per POST, at most
	genChunkBytes   = 256 << 10       // and about this many bytes (the admin API takes 1 MiB bodies)
	genPollWait     = 2 * time.Second // ?wait= of each status poll
	genCancelWait   = 30 * time.Second
	genPollAttempts = 5 // consecutive failed polls before giving up
)

// genClient talks to a running server's admin API.
type genClient struct {
	base, token string
	http        *http.Client
}

// errGenAPI marks an answer of the admin API that is not a run's status.
var errGenAPI = errors.New("admin API")

// do sends one request and decodes the run status it answers with. A 202,
// 200, 409 or 429 carries a status; anything else is an error naming the
// server's message.
func (c *genClient) do(ctx context.Context, method, path string, body any) (genStatus, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return genStatus{}, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return genStatus{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return genStatus{}, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return genStatus{}, resp.StatusCode, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusConflict, http.StatusTooManyRequests:
		var st genStatus
		if err := json.Unmarshal(b, &st); err == nil && st.Job != "" {
			return st, resp.StatusCode, nil
		}
	}
	var ge genError
	msg := string(bytes.TrimSpace(b))
	if json.Unmarshal(b, &ge) == nil && ge.Error != "" {
		msg = ge.Error
	}
	return genStatus{}, resp.StatusCode, fmt.Errorf("%w: %s %s: %s: %s", errGenAPI, method, path, resp.Status, msg)
}

// genRemote is the state of a run sent to a server, shared with the
// progress display.
type genRemote struct {
	start time.Time
	mu    sync.Mutex  // protects local and last
	local gen.Summary // what edge gen counted itself (read, refused, other shards, source errors)
	last  genStatus   // the server's latest answer
}

func (r *genRemote) add(f func(s *gen.Summary)) {
	r.mu.Lock()
	f(&r.local)
	r.mu.Unlock()
}

func (r *genRemote) set(st genStatus) {
	r.mu.Lock()
	r.last = st
	r.mu.Unlock()
}

// summary merges the local counts with the server's.
func (r *genRemote) summary() gen.Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.last.Summary
	s.Read = r.local.Read
	s.Refused += r.local.Refused
	s.OtherShard += r.local.OtherShard
	s.SourceErrors += r.local.SourceErrors
	s.Elapsed = time.Since(r.start)
	return s
}

// genViaAdmin sends the run to the running server that holds the store:
// edge gen reads the source itself (sitemaps included), refuses and shards
// entries as a standalone run would, and posts the remaining URLs in
// chunks to POST /gen; the server makes the pages at bulk priority under
// its own origin budget. Failed URLs come back with each status and are
// appended to the failures file. Ctrl-C cancels the server's run (its
// journal stays, so the same command resumes it).
func genViaAdmin(ctx context.Context, cfg Config, keys *cachekey.Normalizer, o *genOptions, stdin io.Reader,
	stdout, stderr io.Writer, logger *slog.Logger) error {
	if cfg.Admin.Token == "" {
		return fmt.Errorf("gen: the store %s is in use by a running edge server, and admin.token (or EDGE_ADMIN_TOKEN) is not set, "+
			"so the run cannot be sent to it: set the token, or stop the server", cfg.Store.Root)
	}
	c := &genClient{base: "http://" + cfg.Admin.Listen, token: cfg.Admin.Token,
		http: &http.Client{Timeout: genChunkWait + genStatusWaitMax + 10*time.Second}}
	src, closeSrc, err := genSource(ctx, cfg, keys, o, stdin)
	if err != nil {
		return err
	}
	defer closeSrc()
	failures := &appendFile{path: o.failures}
	defer failures.Close()
	rep := newGenReporter(o.progress, stderr, logger)
	log := slog.New(rep.logHandler(logger.Handler()))
	stopCount := countGenTotal(ctx, cfg, keys, o, rep)
	r := &genRemote{start: time.Now()}
	stopProgress := rep.follow(r.summary)
	finish := func(runErr error) error {
		stopCount()
		stopProgress()
		sum := r.summary()
		sum.Interrupted = runErr != nil
		rep.finish(sum)
		printGenSummary(stdout, sum, failures.lines(), o.failures, runErr != nil)
		return genVerdict(sum, runErr, o)
	}

	filter := &gen.Bulk{Keys: keys, BypassPaths: cfg.Cache.BypassPaths, Shard: o.shard, Shards: o.shards}
	var (
		jobID       string
		failedAfter int
		chunk       = make([]string, 0, genChunkURLs)
		chunkBytes  int
		logged      int
	)
	// keep records a server answer: progress, and the failed URLs.
	keep := func(st genStatus) {
		r.set(st)
		for _, u := range st.Failed {
			_, _ = io.WriteString(failures, u+"\n")
		}
		failedAfter = st.FailedNext
		jobID = st.Job
	}
	// send posts the chunk (starting the run with the first), retrying
	// while the server is busy with earlier chunks.
	send := func(done bool) error {
		req := genRequest{URLs: chunk, Done: done}
		path := "/gen"
		if jobID == "" {
			req.Run, req.Desc, req.Since = o.runID(), o.describe(), o.sinceText
			req.Concurrency, req.Rate, req.Fresh = o.concurrency, o.rate, o.fresh
		} else {
			path += "?job=" + url.QueryEscape(jobID) + "&failed_after=" + strconv.Itoa(failedAfter)
		}
		for {
			st, code, err := c.do(ctx, http.MethodPost, path, req)
			if err != nil {
				return err
			}
			keep(st)
			switch code {
			case http.StatusAccepted:
				if jobID != "" && st.Resumed && path == "/gen" {
					log.Info("edge gen: resuming an interrupted run: pages generated since it started are skipped (-fresh starts over)")
				}
				chunk = chunk[:0]
				return nil
			case http.StatusConflict:
				return fmt.Errorf("gen: the server's run ended early: %s", st.Error)
			}
			// 429: the server waited for room already; send it again.
		}
	}

	var sendErr error
	for e, err := range src {
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			r.add(func(s *gen.Summary) { s.SourceErrors++ })
			log.Warn("gen: source error", "where", e.Where(), "err", err)
			continue
		}
		r.add(func(s *gen.Summary) { s.Read++ })
		_, outcome, reason, rerr := filter.Admit(e)
		switch outcome {
		case gen.Refused:
			r.add(func(s *gen.Summary) { s.Refused++ })
			if logged++; logged <= 20 {
				log.Warn("gen: refused", "where", e.Where(), "url", e.URL, "reason", reason, "err", rerr)
			}
			continue
		case gen.OtherShard:
			r.add(func(s *gen.Summary) { s.OtherShard++ })
			continue
		}
		chunk, chunkBytes = append(chunk, e.URL), chunkBytes+len(e.URL)+4
		if len(chunk) == genChunkURLs || chunkBytes >= genChunkBytes {
			chunkBytes = 0
			if sendErr = send(false); sendErr != nil {
				break
			}
		}
	}
	if sendErr == nil && ctx.Err() == nil {
		sendErr = send(true)
	}
	switch {
	case errors.Is(sendErr, errGenAPI) && jobID == "":
		return finish(sendErr) // refused before it started (token, too many runs)
	case sendErr != nil && ctx.Err() == nil:
		c.cancel(jobID)
		return finish(sendErr)
	}

	// Follow the run to its end.
	for failedPolls := 0; ; {
		if ctx.Err() != nil {
			return finish(c.interrupt(jobID, failedAfter, keep, ctx.Err()))
		}
		st, _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/gen/status?job=%s&wait=%s&failed_after=%d",
			url.QueryEscape(jobID), genPollWait, failedAfter), nil)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			if failedPolls++; failedPolls >= genPollAttempts || errors.Is(err, errGenAPI) {
				return finish(fmt.Errorf("gen: lost the server's run %s (%v); run the same command again to resume", jobID, err))
			}
			continue
		}
		failedPolls = 0
		keep(st)
		if st.State == "running" {
			continue
		}
		// Fetch any failed URLs beyond the last page of them.
		for len(st.Failed) > 0 {
			if st, _, err = c.do(ctx, http.MethodGet, fmt.Sprintf("/gen/status?job=%s&failed_after=%d",
				url.QueryEscape(jobID), failedAfter), nil); err != nil {
				break
			}
			keep(st)
		}
		if st.FailedLost > 0 {
			log.Warn("gen: the server kept only some failed URLs", "lost", st.FailedLost)
		}
		switch st.State {
		case "done":
			return finish(nil)
		case "interrupted":
			return finish(fmt.Errorf("gen: the server's run was cancelled (%s): %w", st.Error, context.Canceled))
		}
		return finish(fmt.Errorf("gen: the server's run failed: %s", st.Error))
	}
}

// cancel asks the server to cancel a run, on a context of its own (the
// command's may be done).
func (c *genClient) cancel(jobID string) {
	if jobID == "" {
		return
	}
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_, _, _ = c.do(ctx, http.MethodPost, "/gen/cancel?job="+url.QueryEscape(jobID), nil)
}

// interrupt cancels the server's run after Ctrl-C and waits (briefly) for
// the pages it was making to be stored, for an accurate summary; it
// returns cause.
func (c *genClient) interrupt(jobID string, failedAfter int, keep func(genStatus), cause error) error {
	c.cancel(jobID)
	ctx, stop := context.WithTimeout(context.Background(), genCancelWait)
	defer stop()
	for ctx.Err() == nil {
		st, _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/gen/status?job=%s&wait=%s&failed_after=%d",
			url.QueryEscape(jobID), genPollWait, failedAfter), nil)
		if err != nil {
			break
		}
		keep(st)
		failedAfter = st.FailedNext
		if st.State != "running" {
			break
		}
	}
	return cause
}
