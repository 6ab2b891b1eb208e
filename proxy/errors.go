package proxy

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/pregen/edge"
	"github.com/pregen/edge/internal/cachekey"
	"github.com/valyala/fasthttp"
)

// ErrTooManyWaiters means the cap on requests waiting for one generation
// was reached.
var ErrTooManyWaiters = errors.New("proxy: too many waiters for one page")

// ErrMissRateLimited means a client asked for more pages edge has not
// stored than Policy.MissRate allows (429 with Retry-After). Hits are
// never limited.
var ErrMissRateLimited = errors.New("proxy: too many misses from this client")

// limitedError is ErrMissRateLimited with the whole seconds until the
// client may miss again.
type limitedError struct{ retryAfter int }

func (e *limitedError) Error() string {
	return ErrMissRateLimited.Error() + "; retry after " + strconv.Itoa(e.retryAfter) + "s"
}

func (e *limitedError) Unwrap() error { return ErrMissRateLimited }

// errBadFraming marks a request whose framing is ambiguous (see
// ambiguousFraming).
var errBadFraming = errors.New("proxy: ambiguous request framing")

// errStoredRead marks a stored body that could be opened but not read
// (an I/O error of the disk): 500, logged.
var errStoredRead = errors.New("proxy: stored page unreadable")

// errPanic marks a request whose handling panicked.
var errPanic = errors.New("proxy: internal error")

// statusOf is the one place that maps errors to HTTP statuses.
func statusOf(err error) (status int, retryAfter string) {
	switch {
	case errors.Is(err, cachekey.ErrTooLong):
		return fasthttp.StatusRequestURITooLong, ""
	case errors.Is(err, cachekey.ErrUnknownHost):
		return fasthttp.StatusMisdirectedRequest, ""
	case errors.Is(err, ErrMissRateLimited):
		retry := 1
		if le, ok := errors.AsType[*limitedError](err); ok {
			retry = le.retryAfter
		}
		return fasthttp.StatusTooManyRequests, strconv.Itoa(retry)
	case errors.Is(err, cachekey.ErrBadPath), errors.Is(err, cachekey.ErrBadQuery),
		errors.Is(err, cachekey.ErrBadHost), errors.Is(err, errBadFraming):
		return fasthttp.StatusBadRequest, ""
	case errors.Is(err, edge.ErrOriginTimeout):
		return fasthttp.StatusGatewayTimeout, "5"
	case errors.Is(err, edge.ErrOriginUnavailable):
		return fasthttp.StatusBadGateway, "5"
	case errors.Is(err, edge.ErrOverloaded), errors.Is(err, ErrTooManyWaiters):
		return fasthttp.StatusServiceUnavailable, "1"
	}
	return fasthttp.StatusInternalServerError, ""
}

// writeError answers with a short plain-text error. Nothing written here is
// ever stored.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	status, retry := statusOf(err)
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	if retry != "" {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, retry)
	}
	body := fasthttp.StatusMessage(status) + "\n"
	if status == fasthttp.StatusTooManyRequests {
		body = "Too Many Requests: this client asked for too many pages that are not cached;\n" +
			"cached pages are still served; retry others after " + retry + " seconds.\n"
	}
	ctx.SetBodyString(body)
	setErrorCacheHeaders(&ctx.Response.Header, status)
	if status >= 500 {
		s.stats.errors5xx.Add(1)
		s.log().Warn("request failed", "uri", string(ctx.RequestURI()), "status", status, "err", err)
	} else {
		// A refused request closes its connection: whatever follows it on
		// the connection is not read (VSV00015). A 429 is a well-formed
		// request turned away for now: its connection stays.
		if status != fasthttp.StatusTooManyRequests {
			ctx.SetConnectionClose()
		}
		s.stats.errors4xx.Add(1)
		s.log().Debug("request rejected", "status", status, "err", err)
	}
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// setErrorCacheHeaders gives edge's own error responses the cache headers
// every response carries: a request refused before the cache (4xx) is a
// BYPASS, a failed fetch (5xx) a MISS whose forward failed.
func setErrorCacheHeaders(h *fasthttp.ResponseHeader, status int) {
	h.Set(fasthttp.HeaderAge, "0")
	if status == fasthttp.StatusTooManyRequests { // a miss refused before it was forwarded
		h.Set("X-Cache", xcache[outMiss])
		h.Set("Cache-Status", csMissRateLimited)
		return
	}
	if status < 500 {
		h.Set("X-Cache", xcache[outBypass])
		h.Set("Cache-Status", "edge; fwd=request; detail=rejected")
		return
	}
	h.Set("X-Cache", xcache[outMiss])
	h.Set("Cache-Status", "edge; fwd=uri-miss; fwd-status="+strconv.Itoa(status))
}
