package origin

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// The package has no sentinel errors of its own: Client.Do wraps the shared
// edge.ErrOriginTimeout and edge.ErrOriginUnavailable (together with the
// fasthttp error), and Budget.Acquire wraps edge.ErrOverloaded.

// wrapErr classifies a HostClient error and adds context.
func (c *Client) wrapErr(req *fasthttp.Request, resp *fasthttp.Response, err error, ctxBound bool) error {
	kind := edge.ErrOriginUnavailable
	cn := exchangeOf(resp)
	var what string
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		what = fmt.Sprintf("response body over %d bytes", c.maxBody)
	case isTimeout(err) || errors.Is(err, fasthttp.ErrNoFreeConns) ||
		errors.Is(err, fasthttp.ErrDialTimeout) || errors.Is(err, fasthttp.ErrTLSHandshakeTimeout):
		kind = edge.ErrOriginTimeout
		switch {
		case cn != nil && cn.fbExpired:
			what = fmt.Sprintf("no response byte within %v", c.firstByte)
		case ctxBound:
			what = "context deadline reached"
		case cn == nil:
			what = "no connection in time"
		default:
			what = fmt.Sprintf("exchange not done within %v", c.timeout)
		}
	case cn == nil:
		what = "connect failed"
	default:
		what = "exchange failed"
	}
	uri := req.Header.RequestURI()
	if len(uri) > 200 {
		uri = uri[:200]
	}
	return fmt.Errorf("origin: %s %s%s: %s: %w: %w", req.Header.Method(), c.host, uri, what, kind, err)
}

// connClosed reports whether err means the connection was closed under us.
func connClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
