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

// errPanic marks a request whose handling panicked.
var errPanic = errors.New("proxy: internal error")

// statusOf is the one place that maps errors to HTTP statuses.
func statusOf(err error) (status int, retryAfter string) {
	switch {
	case errors.Is(err, cachekey.ErrTooLong):
		return fasthttp.StatusRequestURITooLong, ""
	case errors.Is(err, cachekey.ErrUnknownHost):
		return fasthttp.StatusMisdirectedRequest, ""
	case errors.Is(err, cachekey.ErrBadPath), errors.Is(err, cachekey.ErrBadQuery),
		errors.Is(err, cachekey.ErrBadHost):
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
	ctx.SetBodyString(fasthttp.StatusMessage(status) + "\n")
	setErrorCacheHeaders(&ctx.Response.Header, status)
	if status >= 500 {
		s.stats.errors5xx.Add(1)
		s.log().Warn("request failed", "uri", string(ctx.RequestURI()), "status", status, "err", err)
	} else {
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
	if status < 500 {
		h.Set("X-Cache", xcache[outBypass])
		h.Set("Cache-Status", "edge; fwd=request; detail=rejected")
		return
	}
	h.Set("X-Cache", xcache[outMiss])
	h.Set("Cache-Status", "edge; fwd=uri-miss; fwd-status="+strconv.Itoa(status))
}
