package proxy

import (
	"bytes"
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

// HTTPServer builds the public server around s.Handler with the given
// limits.
func (s *Server) HTTPServer(l Limits) *PublicServer {
	return s.newPublicServer(&fasthttp.Server{
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
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{s},
	}, orDefault(l.MaxConnsPerIP, 1000))
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

// ambiguousFraming reports whether a request's framing could be read two
// ways by two HTTP implementations, which is how requests are smuggled.
// fasthttp lets Transfer-Encoding win over Content-Length (and closes the
// connection afterwards), ignores "Transfer-Encoding: identity", and lets a
// Connection header nominate framing headers as hop-by-hop; edge refuses
// all three (RFC 9112 §6.1, §6.3; Varnish CVE-2022-45059): 400 and close.
// It reads the raw header block only when the parsed one hints at one of
// them, so the common request costs a header lookup.
func ambiguousFraming(h *fasthttp.RequestHeader) bool {
	if c := h.Peek(fasthttp.HeaderConnection); len(c) > 0 && nominatesFraming(c) {
		return true
	}
	raw := h.RawHeaders()
	if len(raw) == 0 || !hasFold(raw, "transfer-encoding") {
		return false
	}
	var te, cl bool
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			cl = true
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			if !bytes.EqualFold(bytes.TrimSpace(value), []byte("chunked")) {
				return true // identity, or anything fasthttp let through
			}
			te = true
		}
	}
	return te && cl
}

// nominatesFraming reports whether a Connection header value lists
// Content-Length, Transfer-Encoding or Host.
func nominatesFraming(v []byte) bool {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		tok = bytes.TrimSpace(tok)
		if bytes.EqualFold(tok, []byte("content-length")) || bytes.EqualFold(tok, []byte("transfer-encoding")) ||
			bytes.EqualFold(tok, []byte("host")) {
			return true
		}
	}
	return false
}

// hasFold reports whether b contains the lower-case ASCII string s in any
// case.
func hasFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if b[i]|0x20 != s[0] {
			continue
		}
		j := 1
		for j < len(s) && b[i+j]|0x20 == s[j]|0x20 {
			j++
		}
		if j == len(s) {
			return true
		}
	}
	return false
}
