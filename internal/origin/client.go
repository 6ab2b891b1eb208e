package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/pregen/edge"
	"github.com/valyala/fasthttp"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultConnectTimeout   = 3 * time.Second
	DefaultFirstByteTimeout = 30 * time.Second
	DefaultTimeout          = 60 * time.Second
	DefaultMaxConns         = 64
	DefaultIdleTimeout      = time.Second // shorter than gunicorn's 2 s keep-alive
	DefaultMaxResponseBytes = 64 << 20
	DefaultReadBufferSize   = 16 << 10
)

// Config configures a Client. Zero fields take the documented defaults. It is
// plain data: New copies what it needs, and later changes have no effect.
type Config struct {
	// URL is "http://host[:port]" or "https://host[:port]", with no path,
	// query or user info; required. Its host:port is where Client connects.
	URL string
	// ConnectTimeout bounds dialling, TLS handshake included. 0 means 3s.
	ConnectTimeout time.Duration
	// FirstByteTimeout bounds the wait from the request written to the first
	// response byte. 0 means 30s.
	FirstByteTimeout time.Duration
	// Timeout bounds a whole exchange, from the budget slot granted to the
	// response read. 0 means 60s.
	Timeout time.Duration
	// MaxConns caps the connections to the origin (HostClient.MaxConns). 0
	// means 64.
	MaxConns int
	// IdleTimeout closes keep-alive connections idle this long. 0 means 1s,
	// shorter than gunicorn's 2s keep-alive.
	IdleTimeout time.Duration
	// MaxResponseBytes caps a response body; an over-size body is an error,
	// never a truncated success. 0 means 64 MiB.
	MaxResponseBytes int
	// ReadBufferSize is the per-connection read buffer, which also caps the
	// response header size. 0 means 16 KiB.
	ReadBufferSize int
	// TLSConfig is used for an https URL. nil means the system roots; an
	// empty ServerName is set to the URL's host name.
	TLSConfig *tls.Config
	// Budget is the concurrency budget Do acquires a slot of. nil means
	// NewBudget(MaxConns, 0).
	Budget *Budget
	// Observe, if set, is called once per Do, after the budget slot is
	// released, for metrics: status is 0 when err is not nil; elapsed is the
	// whole call, budget wait included. It must be safe for concurrent use.
	Observe func(p edge.Priority, status int, err error, elapsed time.Duration)
}

// Client is the one way to the dynamic origin: a fasthttp HostClient with
// edge-safe limits behind a prioritised Budget. Safe for concurrent use.
type Client struct {
	hc        *fasthttp.HostClient
	budget    *Budget
	host      string // host:port
	scheme    string // "http" or "https"
	tls       *tls.Config
	connect   time.Duration
	firstByte time.Duration
	timeout   time.Duration
	maxBody   int
	observe   func(p edge.Priority, status int, err error, elapsed time.Duration)
}

// New returns a Client for c.URL. It fails on a malformed URL or a negative
// limit; it does not connect.
func New(c Config) (*Client, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("origin: bad URL %q: %w", c.URL, err)
	}
	var port string
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return nil, fmt.Errorf("origin: bad URL %q: scheme must be http or https", c.URL)
	}
	if u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("origin: bad URL %q: want scheme://host[:port] only", c.URL)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	host := net.JoinHostPort(u.Hostname(), port)

	for _, d := range []time.Duration{c.ConnectTimeout, c.FirstByteTimeout, c.Timeout, c.IdleTimeout} {
		if d < 0 {
			return nil, errors.New("origin: negative timeout in config")
		}
	}
	if c.MaxConns < 0 || c.MaxResponseBytes < 0 || c.ReadBufferSize < 0 {
		return nil, errors.New("origin: negative limit in config")
	}
	orDefault(&c.ConnectTimeout, DefaultConnectTimeout)
	orDefault(&c.FirstByteTimeout, DefaultFirstByteTimeout)
	orDefault(&c.Timeout, DefaultTimeout)
	orDefault(&c.MaxConns, DefaultMaxConns)
	orDefault(&c.IdleTimeout, DefaultIdleTimeout)
	orDefault(&c.MaxResponseBytes, DefaultMaxResponseBytes)
	orDefault(&c.ReadBufferSize, DefaultReadBufferSize)
	if c.Budget == nil {
		c.Budget = NewBudget(c.MaxConns, 0)
	}

	cl := &Client{
		budget:    c.Budget,
		host:      host,
		scheme:    u.Scheme,
		connect:   c.ConnectTimeout,
		firstByte: c.FirstByteTimeout,
		timeout:   c.Timeout,
		maxBody:   c.MaxResponseBytes,
		observe:   c.Observe,
	}
	if u.Scheme == "https" {
		cl.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSConfig != nil {
			cl.tls = c.TLSConfig.Clone()
		}
		if cl.tls.ServerName == "" {
			cl.tls.ServerName = u.Hostname()
		}
	}
	cl.hc = &fasthttp.HostClient{
		Addr:        host,
		IsTLS:       u.Scheme == "https",
		DialTimeout: cl.dial,
		Transport:   transport{},
		// One retry at most, and only for a reused connection closed before
		// any response byte (see transport and retryIfErr).
		MaxIdemponentCallAttempts: 2,
		RetryIfErr:                retryIfErr,
		MaxConns:                  c.MaxConns,
		// A full pool waits for a connection (bounded by the request
		// deadline) instead of failing at once with ErrNoFreeConns.
		MaxConnWaitTimeout:  c.Timeout,
		MaxIdleConnDuration: c.IdleTimeout,
		// LIFO reuses the most recently used connection, the one least
		// likely to have been closed by the origin's keep-alive timer, and
		// lets the others idle out.
		ConnPoolStrategy:    fasthttp.LIFO,
		ReadBufferSize:      c.ReadBufferSize,
		MaxResponseBodySize: c.MaxResponseBytes,
		// The URI sent must be byte-identical to the one the cache key was
		// made from.
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
	}
	return cl, nil
}

func orDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Host returns the origin's host:port.
func (c *Client) Host() string { return c.host }

// Budget returns the budget Do acquires slots of.
func (c *Client) Budget() *Budget { return c.budget }

// Close closes the idle connections. The Client stays usable.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Do acquires a budget slot at priority p, sends req to the origin and reads
// the whole response into resp (which must not be nil). The exchange's
// deadline is the earlier of ctx's deadline and now+Timeout, counted from the
// slot being granted; ctx cancellation is honoured while waiting for the slot,
// the exchange itself is bounded by the deadline.
//
// Do modifies req: it strips the hop-by-hop headers (see StripHopByHop), sets
// the URI scheme to the origin's, sets Host to the origin's host:port if req
// has none, and sets req.UseHostHeader so the Host header is sent as it is.
// The request URI's path and query are sent byte for byte as in req. From resp it
// strips the hop-by-hop headers after reading; a chunked body gets its
// Content-Length set.
//
// An idempotent request is retried once, within the same deadline, if a reused
// keep-alive connection turns out closed before any response byte arrived;
// never otherwise.
//
// Errors: a timeout (connect, first byte, total, ctx deadline) wraps
// edge.ErrOriginTimeout; a refused or reset connection, a truncated or
// malformed response, or a body over MaxResponseBytes wraps
// edge.ErrOriginUnavailable. Both also wrap the fasthttp error. Budget errors
// are returned as they are (an error wrapping edge.ErrOverloaded, or
// ctx.Err()).
func (c *Client) Do(ctx context.Context, p edge.Priority, req *fasthttp.Request, resp *fasthttp.Response) error {
	start := time.Now()
	StripHopByHop(&req.Header)
	if len(req.Header.Host()) == 0 {
		req.Header.SetHost(c.host)
	}
	req.UseHostHeader = true
	req.URI().SetScheme(c.scheme)

	release, err := c.budget.Acquire(ctx, p)
	if err != nil {
		c.report(p, 0, err, start)
		return err
	}
	deadline := time.Now().Add(c.timeout)
	ctxBound := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxBound = d, true
	}
	err = c.hc.DoDeadline(req, resp, deadline)
	release()

	status := 0
	if err != nil {
		err = c.wrapErr(req, resp, err, ctxBound)
	} else {
		status = resp.StatusCode()
		StripHopByHop(&resp.Header)
		if resp.Header.ContentLength() == -1 && !req.Header.IsHead() && !resp.SkipBody &&
			status >= 200 && status != fasthttp.StatusNoContent && status != fasthttp.StatusNotModified {
			resp.Header.SetContentLength(len(resp.Body()))
		}
	}
	c.report(p, status, err, start)
	return err
}

func (c *Client) report(p edge.Priority, status int, err error, start time.Time) {
	if c.observe != nil {
		c.observe(p, status, err, time.Since(start))
	}
}

// dial is the HostClient's DialTimeout: TCP (and TLS) within ConnectTimeout,
// or within timeout if that is shorter and not 0, wrapped in a *conn.
func (c *Client) dial(addr string, timeout time.Duration) (net.Conn, error) {
	d := c.connect
	if timeout > 0 && timeout < d {
		d = timeout
	}
	deadline := time.Now().Add(d)
	nc, err := (&net.Dialer{Deadline: deadline}).Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.SetDeadline(deadline); err != nil {
			nc.Close()
			return nil, err
		}
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, err
		}
		if err := tc.SetDeadline(time.Time{}); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return newConn(nc, c.firstByte), nil
}
