package origin

import (
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// conn is one origin connection as fasthttp sees it (installed through
// HostClient.DialTimeout, above TLS). It adds two things fasthttp's client
// lacks:
//
//   - A first-byte timeout. Each Write of a request arms a read deadline of
//     min(now+firstByte, the read deadline fasthttp asked for); the first
//     response byte read restores fasthttp's own deadline. SetReadDeadline and
//     SetDeadline are intercepted to remember fasthttp's value.
//   - A record of the current exchange (how many requests the connection has
//     carried, whether a response byte arrived, whether the first-byte
//     deadline fired), read by transport to decide retries and by Client to
//     word errors. LocalAddr returns a *connAddr so that record can be found
//     from Response.LocalAddr.
//
// fasthttp drives a connection from one goroutine at a time and hands it over
// through its pool lock; the idle cleaner may call Close concurrently, which
// touches no field here. The fields therefore need no lock.
type conn struct {
	net.Conn
	firstByte time.Duration // 0 disables the first-byte timeout
	addr      connAddr

	readDeadline time.Time // the read deadline fasthttp last asked for
	fbDeadline   time.Time // armed first-byte deadline; zero when not awaiting a first byte
	writing      bool      // a request is being written: no Read since the last Write
	requests     int       // requests begun on this connection, the current one included
	gotByte      bool      // a response byte arrived for the current request
	fbExpired    bool      // the current request's first-byte deadline fired
}

// connAddr is the local address of a conn, carrying a pointer back to it.
type connAddr struct {
	net.Addr
	c *conn
}

func newConn(nc net.Conn, firstByte time.Duration) *conn {
	c := &conn{Conn: nc, firstByte: firstByte}
	c.addr = connAddr{Addr: nc.LocalAddr(), c: c}
	return c
}

// LocalAddr returns the underlying local address, wrapped in a *connAddr.
func (c *conn) LocalAddr() net.Addr { return &c.addr }

// Handshake is a no-op on an established connection (for TLS, Client.dial
// completed the handshake already). fasthttp takes a connection with this
// method as TLS-ready and does not wrap it in tls.Client a second time.
func (c *conn) Handshake() error {
	if h, ok := c.Conn.(interface{ Handshake() error }); ok {
		return h.Handshake()
	}
	return nil
}

func (c *conn) Write(p []byte) (int, error) {
	if !c.writing {
		// First write since the last read: a new request begins.
		c.writing = true
		c.requests++
		c.gotByte = false
		c.fbExpired = false
	}
	n, err := c.Conn.Write(p)
	if c.firstByte > 0 && err == nil {
		// The first-byte clock starts when the (latest part of the) request
		// has been written.
		c.fbDeadline = time.Now().Add(c.firstByte)
		err = c.Conn.SetReadDeadline(c.effectiveReadDeadline())
	}
	return n, err
}

func (c *conn) Read(p []byte) (int, error) {
	c.writing = false
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.gotByte = true
		if !c.fbDeadline.IsZero() {
			c.fbDeadline = time.Time{}
			if derr := c.Conn.SetReadDeadline(c.readDeadline); err == nil {
				err = derr
			}
		}
		return n, err
	}
	if err != nil && !c.fbDeadline.IsZero() && isTimeout(err) &&
		(c.readDeadline.IsZero() || c.fbDeadline.Before(c.readDeadline)) {
		c.fbExpired = true
	}
	return n, err
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.readDeadline = t
	return c.Conn.SetReadDeadline(c.effectiveReadDeadline())
}

func (c *conn) SetDeadline(t time.Time) error {
	c.readDeadline = t
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.effectiveReadDeadline())
}

// effectiveReadDeadline is the earlier of fasthttp's read deadline and the
// armed first-byte deadline (a zero time meaning none).
func (c *conn) effectiveReadDeadline() time.Time {
	switch {
	case c.fbDeadline.IsZero():
		return c.readDeadline
	case c.readDeadline.IsZero() || c.fbDeadline.Before(c.readDeadline):
		return c.fbDeadline
	}
	return c.readDeadline
}

// exchangeOf returns the conn the last attempt of resp used, or nil (no
// connection was obtained, or it was not one of ours).
func exchangeOf(resp *fasthttp.Response) *conn {
	if a, ok := resp.LocalAddr().(*connAddr); ok {
		return a.c
	}
	return nil
}

// transport is fasthttp's own transport with one restriction: an attempt that
// failed is offered for retry only if it failed on a reused connection before
// any response byte arrived (the origin closed an idle keep-alive connection
// as we sent on it). RetryIfErr then checks the method and the error.
type transport struct{}

// baseTransport is fasthttp's transport as it was at init.
var baseTransport = fasthttp.DefaultTransport

func (transport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	retry, err := baseTransport.RoundTrip(hc, req, resp)
	if err != nil && retry {
		c := exchangeOf(resp)
		retry = c != nil && c.requests > 1 && !c.gotByte
	}
	return retry, err
}

// retryIfErr allows the single retry (MaxIdemponentCallAttempts is 2) of an
// idempotent request whose error means the connection was closed: io.EOF or
// fasthttp.ErrConnectionClosed from reading (fasthttp reports any failure
// before the first response byte that way), or a reset / broken pipe while
// writing. The timeout is not reset: the retry runs within the same deadline.
func retryIfErr(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	return false, attempts < 2 && idempotent(&req.Header) && connClosed(err)
}

// idempotent reports whether the method is idempotent (RFC 9110 §9.2.2).
func idempotent(h *fasthttp.RequestHeader) bool {
	return h.IsGet() || h.IsHead() || h.IsOptions() || h.IsTrace() || h.IsPut() || h.IsDelete()
}
