package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

// Limits bound what one client can make the public listener hold. Zero
// values choose the documented defaults; none is unlimited (fasthttp's own
// defaults are).
type Limits struct {
	// ReadTimeout bounds reading one request, headers and body (slowloris).
	// Zero means 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response (slow readers). Zero means 30s.
	WriteTimeout time.Duration
	// IdleTimeout bounds an idle keep-alive connection. Zero means 60s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line plus headers; more gets a 431.
	// Zero means 8 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body; more gets a 413. Zero means 1 MiB.
	MaxBodyBytes int
	// MaxConns bounds concurrent connections. Zero means 10000.
	MaxConns int
	// MaxConnsPerIP bounds concurrent connections from one address. Zero
	// means 1000.
	MaxConnsPerIP int
}

func orDefault[T int | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// HTTPServer builds the public fasthttp server around s.Handler with the
// given limits.
func (s *Server) HTTPServer(l Limits) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                       s.Handler,
		ErrorHandler:                  s.parseError,
		Name:                          "edge",
		NoDefaultServerHeader:         true,
		ReadTimeout:                   orDefault(l.ReadTimeout, 10*time.Second),
		WriteTimeout:                  orDefault(l.WriteTimeout, 30*time.Second),
		IdleTimeout:                   orDefault(l.IdleTimeout, 60*time.Second),
		ReadBufferSize:                orDefault(l.MaxHeaderBytes, 8<<10),
		MaxRequestBodySize:            orDefault(l.MaxBodyBytes, 1<<20),
		Concurrency:                   orDefault(l.MaxConns, 10000),
		MaxConnsPerIP:                 orDefault(l.MaxConnsPerIP, 1000),
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{s},
	}
}

// parseError answers requests fasthttp could not parse.
func (s *Server) parseError(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		status = fasthttp.StatusRequestTimeout
	}
	s.stats.errors4xx.Add(1)
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(fasthttp.StatusMessage(status) + "\n")
	setErrorCacheHeaders(&ctx.Response.Header, status)
	ctx.SetConnectionClose()
}

// fasthttpLogger sends fasthttp's own messages to slog at debug level
// (they are mostly clients that went away).
type fasthttpLogger struct{ s *Server }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.s.log().Log(context.Background(), slog.LevelDebug, "fasthttp", "msg", fmt.Sprintf(format, args...))
}
