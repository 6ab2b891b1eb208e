package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The invalidate scenario drives edge's admin API as docs/architecture.md
// specifies it: POST /invalidate with a bearer token and a JSON body
// {"urls": [...]}, answered 202 {"marked": N} once the marks are durable;
// edge then regenerates the marked pages in the background within its
// origin budget, serving the stale copies meanwhile.

// invalidateProbe asks edge whether it has the endpoint by invalidating a
// page that was never stored (nothing to regenerate). It reports "not
// available" for a 404 (the admin API's answer to an unknown path) and for
// any answer it does not understand, with the answer.
func (s *suite) invalidateProbe(ctx context.Context) (string, bool) {
	status, body, err := s.postInvalidate(ctx, []string{probePath})
	switch {
	case err != nil:
		return "POST /invalidate failed: " + err.Error(), false
	case status == http.StatusNotFound:
		return "edge's admin API answers POST /invalidate with 404 (invalidation is not built yet)", false
	case status/100 != 2:
		return fmt.Sprintf("POST /invalidate of a page never stored answers %d %s", status, strings.TrimSpace(body)), false
	}
	return fmt.Sprintf("POST /invalidate answers %d %s", status, strings.Join(strings.Fields(body), " ")), true
}

// probePath is a page the suite never asks for: beyond the demo site's
// events, so never stored.
const probePath = "/events/999999999"

func (s *suite) postInvalidate(ctx context.Context, urls []string) (int, string, error) {
	b, err := json.Marshal(map[string]any{"urls": urls})
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+s.admin+"/invalidate", bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body), nil
}

// invalidation is one run of invalidations under way.
type invalidation struct {
	renders0 int64
	start    time.Time
	marked   string
}

// startInvalidation invalidates /events/1..N in batches of 1,000 and
// returns at once; the rounds then measure the hot traffic while edge
// regenerates them.
func (s *suite) startInvalidation(ctx context.Context) (*invalidation, error) {
	r0, err := s.renders(ctx)
	if err != nil {
		return nil, err
	}
	inv := &invalidation{renders0: r0, start: time.Now()}
	var answers []string
	for lo := 1; lo <= s.opt.invalidateN; lo += 1000 {
		var urls []string
		for k := lo; k < lo+1000 && k <= s.opt.invalidateN; k++ {
			urls = append(urls, fmt.Sprintf("/events/%d", k))
		}
		status, body, err := s.postInvalidate(ctx, urls)
		if err != nil {
			return nil, err
		}
		if status/100 != 2 {
			return nil, fmt.Errorf("POST /invalidate of %d urls: %d %s", len(urls), status, body)
		}
		answers = append(answers, strings.Join(strings.Fields(body), " "))
	}
	inv.marked = strings.Join(answers, " ")
	s.logf("invalidated /events/1..%d: %s", s.opt.invalidateN, inv.marked)
	return inv, nil
}

// wait waits (up to -invalidate-wait from the start) until the origin has
// rendered every invalidated page, and describes the outcome.
func (inv *invalidation) wait(ctx context.Context, s *suite) string {
	want := int64(s.opt.invalidateN)
	deadline := inv.start.Add(s.opt.invalidateWait)
	var got int64
	for {
		r, err := s.renders(ctx)
		if err != nil {
			return "renders unknown: " + err.Error()
		}
		got = r - inv.renders0
		if got >= want || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	secs := time.Since(inv.start).Seconds()
	// Let anything still queued show up before judging "exactly".
	time.Sleep(2 * time.Second)
	if r, err := s.renders(ctx); err == nil {
		got = r - inv.renders0
	}
	verdict := "renders ok"
	switch {
	case got > want:
		verdict = fmt.Sprintf("renders WRONG: %d more than the invalidated pages", got-want)
	case got < want:
		verdict = fmt.Sprintf("regeneration not finished when the wait (-invalidate-wait %v) ended: %d of %d pages, %.1f a second (edge paces it with regen.rate, default 10/s; -regen-rate sets it)",
			s.opt.invalidateWait, got, want, float64(got)/secs)
	}
	return fmt.Sprintf("%d pages invalidated (answers: %s); %d renders in %.0f s, %s", want, inv.marked, got, secs, verdict)
}
